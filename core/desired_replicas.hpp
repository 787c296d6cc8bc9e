#pragma once
// How many replicas a trigger's function should run: the two formulas of docs/autoscaling.md
// (backlog mode and demand mode) that feed triggerd_desired_replicas, the admin API and the
// KEDA scaler.
#include <chrono>
#include <cstdint>

namespace triggerd {

// backlog: a fixed share of the backlog per replica. demand: Little's law over the arrival
// rate and the mean event duration, so a slow function gets more replicas than a fast one.
enum class ScalingMode { kBacklog, kDemand };

const char* scaling_mode_name(ScalingMode mode);

// A trigger's `scaling:` section.
struct Scaling {
  std::int64_t target_per_replica = 10;
  std::int64_t activation = 0;
  std::int64_t min_replicas = 0;
  std::int64_t max_replicas = 100;
  ScalingMode mode = ScalingMode::kBacklog;
  std::chrono::milliseconds drain_within{30'000};
  std::int64_t concurrency_per_replica = 10;
  std::chrono::milliseconds activation_timeout{120'000};
  bool operator==(const Scaling&) const = default;
};

// Backlog mode. min_replicas while backlog <= activation (so a function can go to zero),
// otherwise clamp(ceil(backlog / target_per_replica), max(1, min_replicas), max_replicas).
// Pure and total: a negative backlog counts as 0, a target_per_replica below 1 as 1, and
// if the bounds cross, max_replicas wins (never ask for more than the user allows).
std::int64_t desired_replicas(const Scaling& scaling, std::int64_t backlog);

// What demand mode reads, smoothed by the broker (triggerd_arrival_rate,
// triggerd_mean_event_duration_seconds).
struct Demand {
  double arrival_rate = 0;           // events per second
  double mean_event_duration = 0;    // seconds, taken to finished
};

// The replicas' worth of work that demand mode sees, before rounding and clamping:
// (arrival_rate + backlog / drain_within) * mean_event_duration / concurrency_per_replica.
// Never negative; inputs that are negative or not finite count as 0.
double demand_load(const Scaling& scaling, std::int64_t backlog, const Demand& demand);

// Demand mode. min_replicas while backlog <= activation, otherwise
// clamp(ceil(demand_load), max(1, min_replicas), max_replicas).
std::int64_t demand_replicas(const Scaling& scaling, std::int64_t backlog, const Demand& demand);

// The formula of the trigger's mode.
std::int64_t replicas_for(const Scaling& scaling, std::int64_t backlog, const Demand& demand);

}  // namespace triggerd
