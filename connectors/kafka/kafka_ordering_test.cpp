#include "connectors/kafka/kafka_ordering.hpp"

#include <gtest/gtest.h>

namespace triggerd::kafka {
namespace {

const TopicPartition kP0{"orders", 0};
const TopicPartition kP1{"orders", 1};

TEST(OrderingGate, NoneLetsEverythingStart) {
  OrderingGate gate(config::Ordering::none);
  gate.started(kP0, "a");
  EXPECT_TRUE(gate.may_start(kP0, "a"));
}

TEST(OrderingGate, PartitionAllowsOneInFlightPerPartition) {
  OrderingGate gate(config::Ordering::partition);
  gate.started(kP0, "a");
  EXPECT_FALSE(gate.may_start(kP0, "b"));
  EXPECT_TRUE(gate.may_start(kP1, "a"));
  gate.finished(kP0, "a");
  EXPECT_TRUE(gate.may_start(kP0, "b"));
}

TEST(OrderingGate, KeyAllowsOneInFlightPerKeyAndKeysInParallel) {
  OrderingGate gate(config::Ordering::key);
  gate.started(kP0, "slow");
  EXPECT_FALSE(gate.may_start(kP0, "slow"));
  EXPECT_TRUE(gate.may_start(kP0, "fast"));
  EXPECT_TRUE(gate.may_start(kP0, std::nullopt));
  gate.started(kP0, std::nullopt);
  EXPECT_FALSE(gate.may_start(kP0, std::nullopt));  // keyless messages are one key
  gate.finished(kP0, "slow");
  EXPECT_TRUE(gate.may_start(kP0, "slow"));
}

TEST(OrderingGate, ForgetReleasesOnlyThatPartition) {
  OrderingGate gate(config::Ordering::key);
  gate.started(kP0, std::nullopt);
  gate.started(kP0, "a");
  gate.started(kP1, "a");
  gate.forget(kP0);
  EXPECT_TRUE(gate.may_start(kP0, std::nullopt));
  EXPECT_TRUE(gate.may_start(kP0, "a"));
  EXPECT_FALSE(gate.may_start(kP1, "a"));
}

}  // namespace
}  // namespace triggerd::kafka
