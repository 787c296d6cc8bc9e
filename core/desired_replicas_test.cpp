#include "core/desired_replicas.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <ostream>
#include <string>

namespace triggerd {
namespace {

struct Case {
  std::string name;
  Scaling scaling;  // target_per_replica, activation, min_replicas, max_replicas
  std::int64_t backlog;
  std::int64_t want;
};

void PrintTo(const Case& c, std::ostream* out) { *out << c.name; }

class DesiredReplicas : public testing::TestWithParam<Case> {};

TEST_P(DesiredReplicas, FollowsTheSpecFormula) {
  const Case& c = GetParam();
  EXPECT_EQ(desired_replicas(c.scaling, c.backlog), c.want);
}

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

INSTANTIATE_TEST_SUITE_P(
    Table, DesiredReplicas,
    testing::Values(Case{"EmptyBacklogWithZeroActivationScalesToZero", {10, 0, 0, 100}, 0, 0},
                    Case{"OneEventWithZeroActivationWakesOneReplica", {10, 0, 0, 100}, 1, 1},
                    Case{"BacklogExactlyAtActivationStaysAtMin", {10, 5, 0, 100}, 5, 0},
                    Case{"BacklogJustAboveActivationWakesOneReplica", {10, 5, 0, 100}, 6, 1},
                    Case{"ExactMultipleOfTargetIsNotRoundedUp", {10, 0, 0, 100}, 30, 3},
                    Case{"PartialReplicaIsRoundedUp", {10, 0, 0, 100}, 31, 4},
                    Case{"ClampedToMaxReplicas", {10, 0, 0, 100}, 5000, 100},
                    Case{"ClampedUpToMinReplicasWhenActive", {10, 0, 3, 100}, 11, 3},
                    Case{"MinReplicasHeldWithEmptyBacklog", {10, 0, 2, 100}, 0, 2},
                    Case{"MinReplicasHeldBelowActivation", {10, 50, 2, 100}, 40, 2},
                    Case{"AboveActivationStillCountsTheWholeBacklog", {10, 50, 0, 100}, 51, 6},
                    Case{"TargetOfOneGivesOneReplicaPerEvent", {1, 0, 0, 100}, 7, 7},
                    Case{"NegativeBacklogCountsAsEmpty", {10, 0, 1, 100}, -4, 1},
                    Case{"HugeBacklogDoesNotOverflow", {10, 0, 0, kMax}, kMax, kMax / 10 + 1},
                    Case{"MaxReplicasWinsWhenBoundsCross", {10, 0, 5, 3}, 100, 3}),
    [](const testing::TestParamInfo<Case>& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace triggerd
