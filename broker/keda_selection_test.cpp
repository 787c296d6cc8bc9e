#include "broker/keda_selection.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "core/metrics.hpp"

namespace triggerd {
namespace {

using testing::ElementsAre;
using testing::HasSubstr;

// orders and refunds feed `billing`; hook feeds `report`.
const TriggerIdentity kTriggers[] = {
    {"orders", "billing"},
    {"hook", "report"},
    {"refunds", "billing"},
};

struct SelectCase {
  std::string name;
  std::optional<std::string_view> trigger;
  std::optional<std::string_view> function;
  // Either the selection...
  std::string metric_name;
  std::vector<std::size_t> triggers;
  // ...or the error: its kind and words its message must hold.
  std::optional<SelectionError::Kind> error;
  std::vector<std::string> message_holds;
};

void PrintTo(const SelectCase& c, std::ostream* out) { *out << c.name; }

class SelectTriggers : public testing::TestWithParam<SelectCase> {};

TEST_P(SelectTriggers, FollowsTheMetadata) {
  const SelectCase& c = GetParam();
  const auto selected = select_triggers(c.trigger, c.function, kTriggers);
  if (!c.error) {
    ASSERT_TRUE(std::holds_alternative<ScalerSelection>(selected))
        << std::get<SelectionError>(selected).message;
    const auto& selection = std::get<ScalerSelection>(selected);
    EXPECT_EQ(selection.metric_name, c.metric_name);
    EXPECT_EQ(selection.triggers, c.triggers);
    return;
  }
  ASSERT_TRUE(std::holds_alternative<SelectionError>(selected));
  const auto& error = std::get<SelectionError>(selected);
  EXPECT_EQ(error.kind, *c.error);
  for (const std::string& words : c.message_holds) {
    EXPECT_THAT(error.message, HasSubstr(words));
  }
}

using Kind = SelectionError::Kind;

INSTANTIATE_TEST_SUITE_P(
    Table, SelectTriggers,
    testing::Values(
        SelectCase{"TriggerSelectsThatTrigger", "hook", std::nullopt, "triggerd-hook", {1}},
        SelectCase{"FunctionSelectsEveryTriggerBoundToIt", std::nullopt, "billing",
                   "triggerd-billing", {0, 2}},
        SelectCase{"FunctionWithOneTrigger", std::nullopt, "report", "triggerd-report", {1}},
        SelectCase{"NeitherKeyIsInvalid", std::nullopt, std::nullopt, "", {},
                   Kind::kInvalidArgument, {"\"trigger: NAME\"", "\"function: NAME\""}},
        SelectCase{"BothKeysAreInvalid", "orders", "billing", "", {}, Kind::kInvalidArgument,
                   {"both \"trigger\" and \"function\""}},
        SelectCase{"EmptyTriggerIsInvalid", "", std::nullopt, "", {}, Kind::kInvalidArgument,
                   {"\"trigger\" is empty"}},
        SelectCase{"UnknownTriggerIsNotFound", "ordres", std::nullopt, "", {}, Kind::kNotFound,
                   {"trigger: \"ordres\""}},
        SelectCase{"UnknownFunctionIsNotFound", std::nullopt, "biling", "", {}, Kind::kNotFound,
                   {"function: \"biling\"", "bound to that function"}},
        // A function name is not a trigger name, and the other way round.
        SelectCase{"FunctionNameGivenAsTriggerIsNotFound", "billing", std::nullopt, "", {},
                   Kind::kNotFound, {"trigger: \"billing\""}},
        SelectCase{"TriggerNameGivenAsFunctionIsNotFound", std::nullopt, "orders", "", {},
                   Kind::kNotFound, {"function: \"orders\""}},
        SelectCase{"InvalidNameIsNotEchoed", "Orders\n", std::nullopt, "", {}, Kind::kNotFound,
                   {"trigger (not a valid name"}}),
    [](const testing::TestParamInfo<SelectCase>& param_info) { return param_info.param.name; });

TEST(SelectTriggers, InvalidNameIsNotEchoedAtAll) {
  const auto selected = select_triggers("BAD\x01name", std::nullopt, kTriggers);
  ASSERT_TRUE(std::holds_alternative<SelectionError>(selected));
  EXPECT_THAT(std::get<SelectionError>(selected).message, testing::Not(HasSubstr("BAD")));
}

TriggerReading backlog(std::int64_t target, std::int64_t backlog_total, std::int64_t desired,
                       bool active = true) {
  return TriggerReading{ScalingMode::kBacklog, target, backlog_total, desired, active};
}

TriggerReading demand(std::int64_t backlog_total, std::int64_t desired, bool active = true) {
  return TriggerReading{ScalingMode::kDemand, 10, backlog_total, desired, active};
}

struct MetricCase {
  std::string name;
  std::vector<TriggerReading> readings;
  std::int64_t target;
  std::int64_t value;
};

void PrintTo(const MetricCase& c, std::ostream* out) { *out << c.name; }

class ScalerMetricOf : public testing::TestWithParam<MetricCase> {};

TEST_P(ScalerMetricOf, FollowsTheModes) {
  const MetricCase& c = GetParam();
  const ScalerMetric metric = scaler_metric(c.readings);
  EXPECT_EQ(metric.target, c.target);
  EXPECT_EQ(metric.value, c.value);
}

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

INSTANTIATE_TEST_SUITE_P(
    Table, ScalerMetricOf,
    testing::Values(
        MetricCase{"BacklogModeIsBacklogOverTarget", {backlog(10, 35, 4)}, 10, 35},
        MetricCase{"IdleBacklogModeIsZero", {backlog(10, 0, 0, false)}, 10, 0},
        MetricCase{"BacklogModeFunctionSumsBacklogs", {backlog(10, 35, 4), backlog(10, 7, 1)},
                   10, 42},
        MetricCase{"DemandModeIsDesiredReplicasOverOne", {demand(500, 7)}, 1, 7},
        MetricCase{"DemandModeFunctionSumsReplicas", {demand(500, 7), demand(0, 0, false)}, 1,
                   7},
        MetricCase{"MixedModesSumReplicas", {backlog(10, 35, 4), demand(500, 7)}, 1, 11},
        MetricCase{"BacklogModeWithDifferentTargetsSumsReplicas",
                   {backlog(10, 35, 4), backlog(100, 35, 1)}, 1, 5},
        // A min_replicas while idle still counts: it is what the trigger asks for.
        MetricCase{"MinReplicasOfAnIdleDemandTriggerCount", {demand(0, 2, false)}, 1, 2},
        MetricCase{"TargetBelowOneCountsAsOne", {backlog(0, 3, 3)}, 1, 3},
        MetricCase{"NegativeNumbersCountAsZero", {backlog(10, -5, 0), backlog(10, 4, 1)}, 10, 4},
        MetricCase{"HugeSumsStopAtTheLargestValue", {backlog(10, kMax, 1), backlog(10, kMax, 1)},
                   10, kMax},
        MetricCase{"NoTriggerIsZero", {}, 1, 0}),
    [](const testing::TestParamInfo<MetricCase>& param_info) { return param_info.param.name; });

TEST(AnyActive, IsTrueWhenOneSelectedTriggerIs) {
  EXPECT_FALSE(any_active(std::vector<TriggerReading>{}));
  EXPECT_FALSE(any_active(std::vector{backlog(10, 0, 0, false), demand(0, 0, false)}));
  EXPECT_TRUE(any_active(std::vector{backlog(10, 0, 0, false), demand(1, 1, true)}));
}

// One step of a stream's life: the stream opens, or a trigger flips; then whether `true` goes.
struct Edge {
  enum class What { kOpen, kFlip } what;
  bool became_active;     // kFlip: the flip reported
  bool selection_active;  // read just after
  bool send;
};

Edge open(bool active, bool send) { return {Edge::What::kOpen, false, active, send}; }
Edge flip(bool became_active, bool selection_active, bool send) {
  return {Edge::What::kFlip, became_active, selection_active, send};
}

struct EdgeCase {
  std::string name;
  std::vector<Edge> steps;
};

void PrintTo(const EdgeCase& c, std::ostream* out) { *out << c.name; }

class ActivationEdgesOf : public testing::TestWithParam<EdgeCase> {};

TEST_P(ActivationEdgesOf, SendTrueOnEachTransitionOnly) {
  ActivationEdges edges;
  int step = 0;
  for (const Edge& e : GetParam().steps) {
    const bool send = e.what == Edge::What::kOpen
                          ? edges.opened(e.selection_active)
                          : edges.changed(e.became_active, e.selection_active);
    EXPECT_EQ(send, e.send) << "step " << step;
    ++step;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, ActivationEdgesOf,
    testing::Values(
        EdgeCase{"OpenWhileActiveSendsAtOnce", {open(true, true), flip(true, true, false)}},
        EdgeCase{"OpenWhileIdleWaitsForTheTransition",
                 {open(false, false), flip(true, true, true)}},
        EdgeCase{"EachTransitionSendsOnce",
                 {open(false, false), flip(true, true, true), flip(false, false, false),
                  flip(true, true, true), flip(false, false, false)}},
        // Function selection: a second trigger becoming active, or the first going idle while
        // the second still is, is no transition of the selection.
        EdgeCase{"SecondTriggerOfAnActiveSelectionSendsNothing",
                 {open(false, false), flip(true, true, true), flip(true, true, false),
                  flip(false, true, false), flip(false, false, false), flip(true, true, true)}},
        // Flips reported out of order: the idle report comes first and already reads the
        // trigger active again; the late report of becoming active then sends nothing more.
        EdgeCase{"OutOfOrderReportsSendOneTrue",
                 {open(false, false), flip(false, true, true), flip(true, true, false)}},
        // A flip to active that is over before it is reported is still a transition, and
        // leaves the stream ready for the next one.
        EdgeCase{"ShortActivityIsSentAndTheNextOneToo",
                 {open(false, false), flip(true, false, true), flip(false, false, false),
                  flip(true, true, true)}},
        // A late report of becoming active, read while idle, after the real edge was sent.
        EdgeCase{"LateReportAfterIdleSendsAgainButHealsTheState",
                 {open(false, false), flip(true, true, true), flip(false, false, false),
                  flip(true, false, true), flip(true, true, true)}}),
    [](const testing::TestParamInfo<EdgeCase>& param_info) { return param_info.param.name; });

// read_trigger() takes what a live trigger shows (the numbers of /v1/triggers/NAME).
TEST(ReadTrigger, TakesTheTriggersLiveNumbers) {
  MonitoredTrigger orders{.name = "orders", .function = "billing", .source_type = "kafka"};
  orders.scaling.target_per_replica = 5;
  orders.scaling.activation = 2;
  Metrics metrics({orders}, "test");
  TriggerTelemetry& trigger = *(*metrics.triggers())[0];

  TriggerReading reading = read_trigger(trigger);
  EXPECT_EQ(reading.mode, ScalingMode::kBacklog);
  EXPECT_EQ(reading.target_per_replica, 5);
  EXPECT_EQ(reading.backlog_total, 0);
  EXPECT_EQ(reading.desired_replicas, 0);
  EXPECT_FALSE(reading.active);

  trigger.state.set_queue_depth(11);
  reading = read_trigger(trigger);
  EXPECT_EQ(reading.backlog_total, 11);
  EXPECT_EQ(reading.desired_replicas, 3);
  EXPECT_TRUE(reading.active);
}

}  // namespace
}  // namespace triggerd
