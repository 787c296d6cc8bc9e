#include "broker/config_diff.hpp"

namespace triggerd {
namespace {

void append_names(std::string& out, const char* what, const std::vector<std::string>& names) {
  if (names.empty()) return;
  if (!out.empty()) out += "; ";
  out += what;
  out += ": ";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ", ";
    out += names[i];
  }
}

void append_flag(std::string& out, const char* what, bool changed) {
  if (!changed) return;
  if (!out.empty()) out += "; ";
  out += what;
}

}  // namespace

std::string ConfigChanges::describe_unapplied() const {
  std::string out;
  append_names(out, "triggers added", triggers_added);
  append_names(out, "triggers removed", triggers_removed);
  append_names(out, "triggers changed", triggers_changed);
  append_flag(out, "server", server);
  append_flag(out, "connections", connections);
  append_flag(out, "functions", functions);
  return out;
}

ConfigChanges diff_config(const config::Config& running, const config::Config& loaded) {
  ConfigChanges changes;
  for (const config::Trigger& trigger : loaded.triggers) {
    const config::Trigger* before = running.find_trigger(trigger.name);
    if (before == nullptr) {
      changes.triggers_added.push_back(trigger.name);
    } else if (*before != trigger) {
      changes.triggers_changed.push_back(trigger.name);
    }
  }
  for (const config::Trigger& trigger : running.triggers) {
    if (loaded.find_trigger(trigger.name) == nullptr) {
      changes.triggers_removed.push_back(trigger.name);
    }
  }
  // Every config struct compares all its fields (operator== = default), secrets included.
  changes.server = running.server != loaded.server;
  changes.connections = running.connections != loaded.connections;
  changes.functions = running.functions != loaded.functions;
  changes.log = running.log != loaded.log;
  return changes;
}

}  // namespace triggerd
