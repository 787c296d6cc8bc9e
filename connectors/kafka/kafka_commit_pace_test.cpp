#include "connectors/kafka/kafka_commit_pace.hpp"

#include <gtest/gtest.h>

namespace triggerd::kafka {
namespace {

using namespace std::chrono_literals;

TEST(KafkaCommitPace, NothingFinishedNothingToCommit) {
  EXPECT_FALSE(commit_due(
      {.in_flight = 10, .unconfirmed = 0, .max_inflight = 64, .since_last_commit = 10s}));
}

TEST(KafkaCommitPace, UnderLoadAQuarterOfMaxInflightMakesABatch) {
  EXPECT_FALSE(commit_due(
      {.in_flight = 40, .unconfirmed = 15, .max_inflight = 64, .since_last_commit = 2ms}));
  EXPECT_TRUE(commit_due(
      {.in_flight = 40, .unconfirmed = 16, .max_inflight = 64, .since_last_commit = 2ms}));
}

TEST(KafkaCommitPace, WithFewInFlightHalfTheRoomTheyLeaveMakesABatch) {
  // Eight partitions with `ordering: partition`: 8 in flight leave 56 places, so 28 finished
  // events make a batch, and a crash still delivers again at most 8 + 28 < 64.
  EXPECT_FALSE(commit_due(
      {.in_flight = 8, .unconfirmed = 27, .max_inflight = 64, .since_last_commit = 2ms}));
  EXPECT_TRUE(commit_due(
      {.in_flight = 8, .unconfirmed = 28, .max_inflight = 64, .since_last_commit = 2ms}));
}

TEST(KafkaCommitPace, TheRedeliveryBoundWaitsAtMostTheBoundPace) {
  // Every slot busy: the one finished event must be committed for the next one to start, but
  // a commit at every outcome would cost more than the events.
  EXPECT_TRUE(bound_reached({.in_flight = 63, .unconfirmed = 1, .max_inflight = 64}));
  EXPECT_FALSE(commit_due(
      {.in_flight = 63, .unconfirmed = 1, .max_inflight = 64, .since_last_commit = 500us}));
  EXPECT_TRUE(commit_due(
      {.in_flight = 63, .unconfirmed = 1, .max_inflight = 64, .since_last_commit = kBoundPace}));
  // Not at the bound: the usual pace.
  EXPECT_FALSE(bound_reached({.in_flight = 62, .unconfirmed = 1, .max_inflight = 64}));
  EXPECT_FALSE(commit_due(
      {.in_flight = 62, .unconfirmed = 1, .max_inflight = 64, .since_last_commit = 1ms}));
}

TEST(KafkaCommitPace, AtTheBoundAnEighthOfMaxInflightMakesABatch) {
  EXPECT_FALSE(commit_due(
      {.in_flight = 57, .unconfirmed = 7, .max_inflight = 64, .since_last_commit = 100us}));
  EXPECT_TRUE(commit_due(
      {.in_flight = 56, .unconfirmed = 8, .max_inflight = 64, .since_last_commit = 100us}));
}

TEST(KafkaCommitPace, SmallMaxInflightCommitsEachEvent) {
  EXPECT_TRUE(commit_due({.in_flight = 0, .unconfirmed = 1, .max_inflight = 1}));
  EXPECT_TRUE(commit_due({.in_flight = 0, .unconfirmed = 1, .max_inflight = 2}));
  EXPECT_TRUE(commit_due({.in_flight = 2, .unconfirmed = 1, .max_inflight = 4}));
  EXPECT_FALSE(commit_due({.in_flight = 0, .unconfirmed = 1, .max_inflight = 4}));
  EXPECT_FALSE(commit_due({.in_flight = 3, .unconfirmed = 1, .max_inflight = 5}));
}

TEST(KafkaCommitPace, AFewFinishedEventsWaitAtMostThePace) {
  EXPECT_FALSE(commit_due({.in_flight = 2,
                           .unconfirmed = 3,
                           .max_inflight = 64,
                           .since_last_commit = kCommitPace - 1ms}));
  EXPECT_TRUE(commit_due(
      {.in_flight = 2, .unconfirmed = 3, .max_inflight = 64, .since_last_commit = kCommitPace}));
}

TEST(KafkaCommitPace, ADrainOrARevokeCommitsAtOnce) {
  EXPECT_TRUE(commit_due({.draining = true, .in_flight = 5, .unconfirmed = 1, .max_inflight = 64}));
}

}  // namespace
}  // namespace triggerd::kafka
