#pragma once
// How many replicas a trigger's function should run for a given backlog: the docs/metrics.md
// formula that feeds triggerd_desired_replicas and the admin API (what KEDA/HPA scale on).
#include <cstdint>

namespace triggerd {

// A trigger's `scaling:` section.
struct Scaling {
  std::int64_t target_per_replica = 10;
  std::int64_t activation = 0;
  std::int64_t min_replicas = 0;
  std::int64_t max_replicas = 100;
  bool operator==(const Scaling&) const = default;
};

// min_replicas while backlog <= activation (so a function can go to zero), otherwise
// clamp(ceil(backlog / target_per_replica), max(1, min_replicas), max_replicas).
// Pure and total: a negative backlog counts as 0, a target_per_replica below 1 as 1, and
// if the bounds cross, max_replicas wins (never ask for more than the user allows).
std::int64_t desired_replicas(const Scaling& scaling, std::int64_t backlog);

}  // namespace triggerd
