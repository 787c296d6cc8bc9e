#pragma once
// The triggers of a config as the metrics see them (core/ knows no config types).
#include <vector>

#include "config/config.hpp"
#include "core/metrics.hpp"

namespace triggerd {

MonitoredTrigger monitored_trigger(const config::Trigger& trigger);
// One MonitoredTrigger per trigger of `config`, in config order.
std::vector<MonitoredTrigger> monitored_triggers(const config::Config& config);

}  // namespace triggerd
