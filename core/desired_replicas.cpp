#include "core/desired_replicas.hpp"

#include <algorithm>
#include <cmath>

namespace triggerd {

namespace {

std::int64_t clamp_active(const Scaling& scaling, std::int64_t wanted) {
  const std::int64_t floor = std::max<std::int64_t>(1, scaling.min_replicas);
  return std::min(std::max(wanted, floor), scaling.max_replicas);
}

double finite_or_zero(double value) { return std::isfinite(value) && value > 0 ? value : 0; }

}  // namespace

const char* scaling_mode_name(ScalingMode mode) {
  return mode == ScalingMode::kDemand ? "demand" : "backlog";
}

std::int64_t desired_replicas(const Scaling& scaling, std::int64_t backlog) {
  backlog = std::max<std::int64_t>(backlog, 0);
  if (backlog <= scaling.activation) return scaling.min_replicas;

  const std::int64_t per_replica = std::max<std::int64_t>(scaling.target_per_replica, 1);
  // Written without backlog + per_replica - 1, which could overflow near INT64_MAX.
  const std::int64_t wanted = backlog / per_replica + (backlog % per_replica != 0 ? 1 : 0);
  return clamp_active(scaling, wanted);
}

double demand_load(const Scaling& scaling, std::int64_t backlog, const Demand& demand) {
  const double drain_seconds =
      std::max(std::chrono::duration<double>(scaling.drain_within).count(), 0.001);
  const double per_replica =
      static_cast<double>(std::max<std::int64_t>(scaling.concurrency_per_replica, 1));
  const double rate = finite_or_zero(demand.arrival_rate) +
                      static_cast<double>(std::max<std::int64_t>(backlog, 0)) / drain_seconds;
  return rate * finite_or_zero(demand.mean_event_duration) / per_replica;
}

std::int64_t demand_replicas(const Scaling& scaling, std::int64_t backlog, const Demand& demand) {
  if (std::max<std::int64_t>(backlog, 0) <= scaling.activation) return scaling.min_replicas;
  // Above max_replicas the exact figure does not matter; the cap keeps the cast defined.
  const double load = std::min(std::ceil(demand_load(scaling, backlog, demand)),
                               static_cast<double>(scaling.max_replicas));
  return clamp_active(scaling, static_cast<std::int64_t>(load));
}

std::int64_t replicas_for(const Scaling& scaling, std::int64_t backlog, const Demand& demand) {
  return scaling.mode == ScalingMode::kDemand ? demand_replicas(scaling, backlog, demand)
                                              : desired_replicas(scaling, backlog);
}

}  // namespace triggerd
