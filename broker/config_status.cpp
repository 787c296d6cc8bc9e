#include "broker/config_status.hpp"

namespace triggerd {

const char* reload_result_name(ReloadResult result) {
  switch (result) {
    case ReloadResult::success:
      return "success";
    case ReloadResult::failure:
      return "failure";
    case ReloadResult::none:
      break;
  }
  return "none";
}

void ConfigStatus::started(const config::Config& running, Time now) {
  file = running.file;
  checksum = running.checksum;
  loaded_at = now;
}

void ConfigStatus::reload_succeeded(const config::Config& loaded, Time now) {
  file = loaded.file;
  checksum = loaded.checksum;
  loaded_at = now;
  last_reload = {now, ReloadResult::success, std::nullopt};
}

void ConfigStatus::reload_failed(const config::LoadResult& refused, Time now) {
  last_reload = {now, ReloadResult::failure, std::nullopt};
  for (const config::Diagnostic& diagnostic : refused.diagnostics) {
    if (diagnostic.severity != config::Severity::error) continue;
    last_reload.error = diagnostic.to_string();
    return;
  }
  // Refused without an error line cannot happen (no config means an error was reported); say
  // so rather than show a failure without a reason.
  last_reload.error = "the file has errors";
}

}  // namespace triggerd
