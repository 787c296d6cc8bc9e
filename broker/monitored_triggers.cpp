#include "broker/monitored_triggers.hpp"

#include <variant>

namespace triggerd {

MonitoredTrigger monitored_trigger(const config::Trigger& trigger) {
  return {
      .name = trigger.name,
      .function = trigger.function,
      .source_type = config::source_type_name(trigger.source),
      .scaling = trigger.scaling,
      .cron = std::holds_alternative<config::CronSource>(trigger.source),
      .http = std::holds_alternative<config::HttpSource>(trigger.source),
  };
}

std::vector<MonitoredTrigger> monitored_triggers(const config::Config& config) {
  std::vector<MonitoredTrigger> triggers;
  triggers.reserve(config.triggers.size());
  for (const config::Trigger& trigger : config.triggers) triggers.push_back(monitored_trigger(trigger));
  return triggers;
}

}  // namespace triggerd
