#pragma once
// What differs between the running configuration and one loaded on SIGHUP. A reload applies
// the log settings at once; the rest waits for the sources to support reloading, and this is
// what the log line about it names.
#include <string>
#include <vector>

#include "config/config.hpp"

namespace triggerd {

struct ConfigChanges {
  std::vector<std::string> triggers_added;    // in the order of the new file
  std::vector<std::string> triggers_removed;  // in the order of the running config
  std::vector<std::string> triggers_changed;  // same name, any field different
  bool server = false;                        // any of server.*
  bool connections = false;  // added, removed or changed (secrets compared, never shown)
  bool functions = false;
  bool log = false;

  bool triggers() const {
    return !triggers_added.empty() || !triggers_removed.empty() || !triggers_changed.empty();
  }
  // One line for the log, e.g. "triggers added: a; triggers changed: b; functions"; names
  // only, never values (they may hold secrets).
  std::string describe_unapplied() const;
};

ConfigChanges diff_config(const config::Config& running, const config::Config& loaded);

}  // namespace triggerd
