#pragma once
// What a KEDA ScaledObject asks triggerd's external scaler about, and what the scaler answers:
// the triggers its metadata selects (`trigger: NAME` or `function: NAME`), the one metric over
// them, and when their activity is news for a StreamIsActive stream. No gRPC here, so that the
// rules can be tested table by table; broker/keda_scaler.cpp puts them on the wire.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/desired_replicas.hpp"

namespace triggerd {

struct TriggerTelemetry;

// The scalerMetadata keys that select triggers; exactly one of them must be given.
inline constexpr std::string_view kSelectTrigger = "trigger";
inline constexpr std::string_view kSelectFunction = "function";

// Metric names are this prefix and the trigger's or the function's name.
inline constexpr std::string_view kScalerMetricPrefix = "triggerd-";

// What select_triggers() reads of one configured trigger.
struct TriggerIdentity {
  std::string_view name;
  std::string_view function;
};

// The triggers a ScaledObject's metadata names. A reload may add, remove or rebind triggers
// while a stream is open, so a selection is kept as what it asks for (`by_trigger`, `name`) and
// matched against the triggers of the moment; `triggers` is what it matched when made.
struct ScalerSelection {
  std::string metric_name;            // "triggerd-" and the trigger's or function's name
  std::vector<std::size_t> triggers;  // indices into the list select_triggers() was given
  bool by_trigger = true;             // `trigger: NAME`, else `function: NAME`
  std::string name;

  bool selects(std::string_view trigger, std::string_view function) const {
    return (by_trigger ? trigger : function) == name;
  }
};

// Why a ScaledObject's metadata selects nothing; `message` is for whoever wrote the ScaledObject.
struct SelectionError {
  enum class Kind {
    kInvalidArgument,  // neither key, both keys, or an empty value
    kNotFound,         // no trigger (or no trigger bound to a function) by that name
  };
  Kind kind;
  std::string message;
};

// `trigger`, `function`: the metadata's values of those keys, nullopt where the key is absent.
// `triggers` in config order; the selection keeps that order. Other metadata keys (KEDA passes
// its own, such as scalerAddress) are not looked at.
std::variant<ScalerSelection, SelectionError> select_triggers(
    std::optional<std::string_view> trigger, std::optional<std::string_view> function,
    std::span<const TriggerIdentity> triggers);

// One trigger's numbers at the moment of an answer.
struct TriggerReading {
  ScalingMode mode = ScalingMode::kBacklog;
  std::int64_t target_per_replica = 1;
  std::int64_t backlog_total = 0;
  std::int64_t desired_replicas = 0;
  bool active = false;
};

TriggerReading read_trigger(const TriggerTelemetry& trigger);

// The metric of a selection, as GetMetricSpec (target) and GetMetrics (value) report it; KEDA's
// HPA then runs ceil(value / target) replicas. Never negative; target >= 1.
//   every trigger in backlog mode with one target_per_replica: value = the sum of their
//     backlog_total, target = target_per_replica;
//   otherwise (demand mode, or a function whose triggers mix modes or targets): value = the
//     sum of each trigger's desired replicas, target = 1. Backlogs of different targets do not
//     add up into one figure; replica counts do.
struct ScalerMetric {
  std::int64_t target = 1;
  std::int64_t value = 0;
};

ScalerMetric scaler_metric(std::span<const TriggerReading> readings);

// IsActive: some trigger of the selection is active.
bool any_active(std::span<const TriggerReading> readings);

// For one StreamIsActive stream: when to send `true`. The stream carries a `true` for each
// inactive -> active transition of its selection and nothing else: never `false`, never a
// second `true` while the selection stays active.
//
// The trigger listeners that report flips run on any thread, so two flips of one trigger may
// be reported out of order; each call therefore also takes the selection's activity as read
// at that moment (under the stream's lock), which puts the state right whatever the order.
class ActivationEdges {
 public:
  // The stream has just opened; `active`: the selection's activity now. True: send `true` at
  // once, so that a KEDA that has restarted learns of work waiting without a new transition.
  bool opened(bool active) { return changed(false, active); }

  // A selected trigger's activity flipped to `became_active`; `active`: the selection's
  // activity read after that. True: send `true`.
  bool changed(bool became_active, bool active) {
    const bool send = !active_ && (became_active || active);
    active_ = active;
    return send;
  }

 private:
  bool active_ = false;  // the selection's activity when last looked at
};

}  // namespace triggerd
