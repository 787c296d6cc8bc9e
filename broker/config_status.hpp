#pragma once
// What /v1/config shows about the running configuration (docs/admin-api.md): which file, which
// version of it (the checksum of its bytes), since when, how the last reload went, and whether
// the file is watched for changes. It holds no value of the config, so the route cannot show
// one: values may be secrets.
//
// Plain members, not atomics: the app changes it on the event loop's thread (start-up, SIGHUP,
// the file watcher's callback), where /v1/config is answered too.
#include <chrono>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "config/loader.hpp"

namespace triggerd {

enum class ReloadResult { none, success, failure };

// "none", "success" or "failure", as /v1/config shows it.
const char* reload_result_name(ReloadResult result);

struct ConfigStatus {
  using Time = std::chrono::system_clock::time_point;

  struct LastReload {
    std::optional<Time> at;  // none before the first reload
    ReloadResult result = ReloadResult::none;
    std::optional<std::string> error;  // a failed reload's first error line
  };

  std::string file;
  std::string checksum;  // of the bytes the running config came from (config::checksum_of)
  Time loaded_at{};      // when the running config was loaded: at start, or by a reload
  LastReload last_reload;
  bool watch = false;  // the file is being watched (server.watch_config, and inotify works)

  // The config the process started with, loaded at `now`.
  void started(const config::Config& running, Time now);
  // A reload that loaded `loaded` at `now`: it is the running config's file from now on.
  void reload_succeeded(const config::Config& loaded, Time now);
  // A reload refused at `now`: the running config stays, and the first error of `refused` is
  // kept as its FILE:LINE:COL: error: PATH: MESSAGE line (which never carries a secret value).
  void reload_failed(const config::LoadResult& refused, Time now);
};

}  // namespace triggerd
