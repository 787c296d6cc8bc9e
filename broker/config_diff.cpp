#include "broker/config_diff.hpp"

#include <algorithm>
#include <variant>

namespace triggerd {
namespace {

// The connections a trigger reads from or writes its dead letters to.
std::vector<std::string> connections_of(const config::Trigger& trigger) {
  std::vector<std::string> names;
  std::visit(
      [&names](const auto& source) {
        using Source = std::decay_t<decltype(source)>;
        if constexpr (std::is_same_v<Source, config::CronSource>) {
          if (!source.lock.empty()) names.push_back(source.lock);
        } else if constexpr (!std::is_same_v<Source, config::HttpSource>) {
          names.push_back(source.connection);
        }
      },
      trigger.source);
  if (trigger.delivery.dead_letter) {
    std::visit(
        [&names](const auto& dead_letter) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(dead_letter)>,
                                        config::HttpDeadLetter>) {
            names.push_back(dead_letter.connection);
          }
        },
        *trigger.delivery.dead_letter);
  }
  return names;
}

// Whether the running source can take what changed between `before` and `after`: not a new
// source spec, ordering (the source keeps its partitions' or keys' order by it), batch (events
// gathered into batches under the old settings would have to be regrouped) or dead letter (a
// sink made with the source's connection). max_inflight it takes (Source::set_max_inflight);
// filters the runtime reads from the trigger it is bound to, event by event.
bool source_untouched(const config::Trigger& before, const config::Trigger& after) {
  return before.source == after.source &&
         before.delivery.ordering == after.delivery.ordering &&
         before.delivery.batch == after.delivery.batch &&
         before.delivery.dead_letter == after.delivery.dead_letter;
}

bool connection_changed(const config::Config& running, const config::Config& loaded,
                        const std::string& name) {
  const config::Connection* before = running.find_connection(name);
  const config::Connection* after = loaded.find_connection(name);
  return before == nullptr || after == nullptr || *before != *after;
}

}  // namespace

bool ConfigChanges::empty() const {
  return triggers_added.empty() && triggers_removed.empty() && triggers_changed.empty() &&
         triggers_rebound.empty() &&
         functions_added.empty() && functions_removed.empty() && functions_changed.empty() &&
         server_needs_restart.empty() && !log && !admin_auth;
}

std::vector<std::string> ConfigChanges::describe() const {
  std::vector<std::string> lines;
  for (const auto& name : functions_added) lines.push_back("function " + name + " added");
  for (const auto& name : functions_changed) {
    lines.push_back("function " + name +
                    " changed: attempts from now on use the new settings, those under way "
                    "finish on the old ones");
  }
  for (const auto& name : functions_removed) lines.push_back("function " + name + " removed");
  for (const auto& name : triggers_added) lines.push_back("trigger " + name + " added: starting");
  for (const auto& name : triggers_rebound) {
    lines.push_back("trigger " + name +
                    " changed: events taken from now on use the new settings; its source "
                    "is not touched");
  }
  for (const auto& name : triggers_changed) {
    lines.push_back("trigger " + name +
                    " changed: draining the running version, then starting the new one");
  }
  for (const auto& name : triggers_removed) {
    lines.push_back("trigger " + name + " removed: draining it, then closing its source");
  }
  if (log) lines.push_back("log settings applied");
  if (admin_auth) lines.push_back("server.admin_auth applied: the admin API checks it from now on");
  return lines;
}

ConfigChanges diff_config(const config::Config& running, const config::Config& loaded) {
  ConfigChanges changes;
  for (const config::Trigger& trigger : loaded.triggers) {
    const config::Trigger* before = running.find_trigger(trigger.name);
    if (before == nullptr) {
      changes.triggers_added.push_back(trigger.name);
      continue;
    }
    // Every config struct compares all its fields (operator== = default), secrets included.
    const auto uses = connections_of(trigger);
    const bool connections_changed =
        std::any_of(uses.begin(), uses.end(), [&](const std::string& name) {
          return connection_changed(running, loaded, name);
        });
    if (connections_changed || (*before != trigger && !source_untouched(*before, trigger))) {
      changes.triggers_changed.push_back(trigger.name);
    } else if (*before != trigger) {
      changes.triggers_rebound.push_back(trigger.name);
    }
  }
  for (const config::Trigger& trigger : running.triggers) {
    if (loaded.find_trigger(trigger.name) == nullptr) {
      changes.triggers_removed.push_back(trigger.name);
    }
  }
  for (const config::Function& function : loaded.functions) {
    const config::Function* before = running.find_function(function.name);
    if (before == nullptr) {
      changes.functions_added.push_back(function.name);
    } else if (*before != function) {
      changes.functions_changed.push_back(function.name);
    }
  }
  for (const config::Function& function : running.functions) {
    if (loaded.find_function(function.name) == nullptr) {
      changes.functions_removed.push_back(function.name);
    }
  }
  const config::ServerConfig& a = running.server;
  const config::ServerConfig& b = loaded.server;
  if (a.listen != b.listen) changes.server_needs_restart.push_back("server.listen");
  if (a.admin_listen != b.admin_listen) changes.server_needs_restart.push_back("server.admin_listen");
  if (a.scaler_listen != b.scaler_listen) {
    changes.server_needs_restart.push_back("server.scaler_listen");
  }
  if (a.max_body_size != b.max_body_size) {
    changes.server_needs_restart.push_back("server.max_body_size");
  }
  if (a.watch_config != b.watch_config) {
    changes.server_needs_restart.push_back("server.watch_config");
  }
  changes.log = running.log != loaded.log;
  changes.admin_auth = a.admin_auth != b.admin_auth;
  return changes;
}

}  // namespace triggerd
