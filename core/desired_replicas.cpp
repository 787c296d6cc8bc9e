#include "core/desired_replicas.hpp"

#include <algorithm>

namespace triggerd {

std::int64_t desired_replicas(const Scaling& scaling, std::int64_t backlog) {
  backlog = std::max<std::int64_t>(backlog, 0);
  if (backlog <= scaling.activation) return scaling.min_replicas;

  const std::int64_t per_replica = std::max<std::int64_t>(scaling.target_per_replica, 1);
  // Written without backlog + per_replica - 1, which could overflow near INT64_MAX.
  const std::int64_t wanted = backlog / per_replica + (backlog % per_replica != 0 ? 1 : 0);
  const std::int64_t floor = std::max<std::int64_t>(1, scaling.min_replicas);
  return std::min(std::max(wanted, floor), scaling.max_replicas);
}

}  // namespace triggerd
