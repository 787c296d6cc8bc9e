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
      {.in_flight = 20, .unconfirmed = 15, .max_inflight = 64, .since_last_commit = 2ms}));
  EXPECT_TRUE(commit_due(
      {.in_flight = 20, .unconfirmed = 16, .max_inflight = 64, .since_last_commit = 2ms}));
}

TEST(KafkaCommitPace, TheRedeliveryBoundNeverWaitsForABatch) {
  // Every slot busy with a slow function: the one finished event must be committed for the
  // next one to start.
  EXPECT_TRUE(commit_due(
      {.in_flight = 63, .unconfirmed = 1, .max_inflight = 64, .since_last_commit = 1ms}));
  EXPECT_FALSE(commit_due(
      {.in_flight = 62, .unconfirmed = 1, .max_inflight = 64, .since_last_commit = 1ms}));
}

TEST(KafkaCommitPace, SmallMaxInflightCommitsEachEvent) {
  EXPECT_TRUE(commit_due({.in_flight = 0, .unconfirmed = 1, .max_inflight = 1}));
  EXPECT_TRUE(commit_due({.in_flight = 0, .unconfirmed = 1, .max_inflight = 4}));
  EXPECT_FALSE(commit_due({.in_flight = 0, .unconfirmed = 1, .max_inflight = 5}));
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
