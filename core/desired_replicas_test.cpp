#include "core/desired_replicas.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
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


struct DemandCase {
  std::string name;
  Scaling scaling;
  std::int64_t backlog;
  Demand demand;
  std::int64_t want;
};

void PrintTo(const DemandCase& c, std::ostream* out) { *out << c.name; }

class DemandReplicas : public testing::TestWithParam<DemandCase> {};

TEST_P(DemandReplicas, FollowsLittlesLaw) {
  const DemandCase& c = GetParam();
  EXPECT_EQ(demand_replicas(c.scaling, c.backlog, c.demand), c.want);
  Scaling demand_mode = c.scaling;
  demand_mode.mode = ScalingMode::kDemand;
  EXPECT_EQ(replicas_for(demand_mode, c.backlog, c.demand), c.want);
}

// concurrency_per_replica 10, drain_within 30 s unless the case says otherwise.
Scaling demand(std::int64_t min_replicas = 0, std::int64_t max_replicas = 100,
               std::int64_t activation = 0, std::int64_t concurrency = 10,
               std::chrono::milliseconds drain_within = std::chrono::seconds(30)) {
  Scaling s;
  s.mode = ScalingMode::kDemand;
  s.min_replicas = min_replicas;
  s.max_replicas = max_replicas;
  s.activation = activation;
  s.concurrency_per_replica = concurrency;
  s.drain_within = drain_within;
  return s;
}

INSTANTIATE_TEST_SUITE_P(
    Table, DemandReplicas,
    testing::Values(
        // 90 events/s of 0.2 s each keep 18 requests in flight: two replicas of 10.
        DemandCase{"SlowFunctionNeedsItsConcurrency", demand(), 1, {90, 0.2}, 2},
        // The same arrival rate at 5 ms keeps half a request in flight: one replica.
        DemandCase{"FastFunctionNeedsOneReplica", demand(), 1, {100, 0.005}, 1},
        // 3000 waiting to be cleared in 30 s add 100/s: (100 + 100) * 0.2 / 10 = 4.
        DemandCase{"BacklogAddsItsDrainRate", demand(), 3000, {100, 0.2}, 4},
        DemandCase{"PartialReplicaIsRoundedUp", demand(), 1, {101, 0.2}, 3},
        DemandCase{"IdleGoesToMinReplicas", demand(2), 0, {100, 0.2}, 2},
        DemandCase{"AtActivationStaysAtMin", demand(0, 100, 5), 5, {1000, 1}, 0},
        DemandCase{"ActiveWithNoHistoryStillWakesOne", demand(), 1, {0, 0}, 1},
        DemandCase{"ClampedToMaxReplicas", demand(0, 7), 1, {1e9, 10}, 7},
        DemandCase{"ClampedUpToMinReplicas", demand(4), 1, {1, 0.001}, 4},
        DemandCase{"NotFiniteInputsCountAsZero", demand(), 1, {std::nan(""), -3}, 1},
        DemandCase{"ConcurrencyOfOneIsOneRequestPerReplica", demand(0, 100, 0, 1), 1,
                   {45, 0.1}, 5},
        DemandCase{"ShortDrainWithinAsksForMore", demand(0, 100, 0, 10, std::chrono::seconds(1)),
                   1000, {0, 0.1}, 10}),
    [](const testing::TestParamInfo<DemandCase>& param_info) { return param_info.param.name; });

TEST(DemandLoad, IsTheUnroundedReplicaFigure) {
  EXPECT_DOUBLE_EQ(demand_load(demand(), 300, {40, 0.5}), (40.0 + 10.0) * 0.5 / 10.0);
  EXPECT_DOUBLE_EQ(demand_load(demand(), -5, {0, 0.5}), 0.0);
}

}  // namespace
}  // namespace triggerd
