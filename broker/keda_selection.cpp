#include "broker/keda_selection.hpp"

#include <algorithm>
#include <limits>

#include "config/config.hpp"
#include "core/metrics.hpp"

namespace triggerd {
namespace {

SelectionError invalid(std::string message) {
  return SelectionError{SelectionError::Kind::kInvalidArgument, std::move(message)};
}

// `KEY: "VALUE"` as the ScaledObject has it. Only a valid name is echoed: a status message
// never carries bytes a client made up (control characters, a megabyte of anything).
std::string quoted(std::string_view key, std::string_view value) {
  if (!config::is_valid_name(value)) {
    return std::string(key) +
           " (not a valid name: [a-z0-9][a-z0-9-]*, at most 63 characters)";
  }
  return std::string(key) + ": \"" + std::string(value) + "\"";
}

// a + b for non-negative numbers, stopping at the largest int64 rather than wrapping.
std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  return a > std::numeric_limits<std::int64_t>::max() - b
             ? std::numeric_limits<std::int64_t>::max()
             : a + b;
}

}  // namespace

std::variant<ScalerSelection, SelectionError> select_triggers(
    std::optional<std::string_view> trigger, std::optional<std::string_view> function,
    std::span<const TriggerIdentity> triggers) {
  if (!trigger && !function) {
    return invalid(
        "scalerMetadata must select what to scale on: \"trigger: NAME\" (one trigger) or "
        "\"function: NAME\" (every trigger bound to that function)");
  }
  if (trigger && function) {
    return invalid(
        "scalerMetadata has both \"trigger\" and \"function\"; give one of them: \"trigger: "
        "NAME\" (one trigger) or \"function: NAME\" (every trigger bound to that function)");
  }
  const std::string_view key = trigger ? kSelectTrigger : kSelectFunction;
  const std::string_view name = trigger ? *trigger : *function;
  if (name.empty()) {
    return invalid("scalerMetadata \"" + std::string(key) + "\" is empty; give the name of a " +
                   std::string(key));
  }

  ScalerSelection selection{.metric_name = std::string(kScalerMetricPrefix) + std::string(name),
                            .triggers = {},
                            .by_trigger = trigger.has_value(),
                            .name = std::string(name)};
  for (std::size_t i = 0; i < triggers.size(); ++i) {
    if (selection.selects(triggers[i].name, triggers[i].function)) selection.triggers.push_back(i);
  }
  if (selection.triggers.empty()) {
    return SelectionError{
        SelectionError::Kind::kNotFound,
        "scalerMetadata " + quoted(key, name) +
            (trigger ? ": no trigger of this triggerd has that name"
                     : ": no trigger of this triggerd is bound to that function")};
  }
  return selection;
}

TriggerReading read_trigger(const TriggerTelemetry& trigger) {
  const Scaling scaling = trigger.scaling();
  return TriggerReading{
      .mode = scaling.mode,
      .target_per_replica = scaling.target_per_replica,
      .backlog_total = trigger.state.backlog_total(),
      .desired_replicas = trigger.desired_replicas(),
      .active = trigger.active(),
  };
}

ScalerMetric scaler_metric(std::span<const TriggerReading> readings) {
  const bool by_backlog =
      !readings.empty() &&
      std::all_of(readings.begin(), readings.end(), [&](const TriggerReading& reading) {
        return reading.mode == ScalingMode::kBacklog &&
               reading.target_per_replica == readings.front().target_per_replica;
      });
  ScalerMetric metric;
  for (const TriggerReading& reading : readings) {
    const std::int64_t share = by_backlog ? reading.backlog_total : reading.desired_replicas;
    metric.value = saturating_add(metric.value, std::max<std::int64_t>(share, 0));
  }
  if (by_backlog) {
    metric.target = std::max<std::int64_t>(readings.front().target_per_replica, 1);
  }
  return metric;
}

bool any_active(std::span<const TriggerReading> readings) {
  return std::any_of(readings.begin(), readings.end(),
                     [](const TriggerReading& reading) { return reading.active; });
}

}  // namespace triggerd
