#include "connectors/kafka/kafka_backlog.hpp"

#include <gtest/gtest.h>

namespace triggerd::kafka {
namespace {

using config::KafkaStart;

const TopicPartition kP0{"orders", 0};
const TopicPartition kP1{"orders", 1};
const TopicPartition kP2{"orders", 2};
const TopicPartition kRefunds{"refunds", 0};

TEST(KafkaGroupBacklog, SumsHighWatermarkLessCommittedOverEveryPartition) {
  const WatermarkMap marks{{kP0, {0, 100}}, {kP1, {0, 50}}, {kRefunds, {10, 12}}};
  const CommittedMap committed{{kP0, 60}, {kP1, 50}, {kRefunds, 11}};
  EXPECT_EQ(group_backlog(marks, committed, KafkaStart::earliest), 40 + 0 + 1);
}

TEST(KafkaGroupBacklog, APartitionWithoutCommittedOffsetCountsFromWhereTheGroupWouldStart) {
  const WatermarkMap marks{{kP0, {5, 100}}, {kP1, {0, 50}}};
  const CommittedMap committed{{kP1, 20}};
  EXPECT_EQ(group_backlog(marks, committed, KafkaStart::earliest), 95 + 30);
  EXPECT_EQ(group_backlog(marks, committed, KafkaStart::latest), 0 + 30);
}

TEST(KafkaGroupBacklog, NothingCommittedAnywhereIsTheWholeLogOrNothing) {
  const WatermarkMap marks{{kP0, {0, 7}}, {kP1, {3, 3}}, {kP2, {2, 9}}};
  EXPECT_EQ(group_backlog(marks, {}, KafkaStart::earliest), 7 + 0 + 7);
  EXPECT_EQ(group_backlog(marks, {}, KafkaStart::latest), 0);
}

TEST(KafkaGroupBacklog, ACommittedOffsetOutsideTheLogCountsLikeNoneAsTheConsumerResets) {
  // Retention removed what the group points at: the consumer restarts by `start`.
  const WatermarkMap marks{{kP0, {40, 100}}};
  EXPECT_EQ(group_backlog(marks, {{kP0, 10}}, KafkaStart::earliest), 60);
  EXPECT_EQ(group_backlog(marks, {{kP0, 10}}, KafkaStart::latest), 0);
  // Ahead of the log (a recreated topic): the same.
  EXPECT_EQ(group_backlog(marks, {{kP0, 500}}, KafkaStart::earliest), 60);
  // At either end it is in the log.
  EXPECT_EQ(group_backlog(marks, {{kP0, 40}}, KafkaStart::latest), 60);
  EXPECT_EQ(group_backlog(marks, {{kP0, 100}}, KafkaStart::earliest), 0);
}

TEST(KafkaGroupBacklog, CommittedOffsetsOfOtherPartitionsCountNothing) {
  EXPECT_EQ(group_backlog({{kP0, {0, 10}}}, {{kP0, 4}, {kP1, 0}}, KafkaStart::earliest), 6);
  EXPECT_EQ(group_backlog({}, {{kP0, 4}}, KafkaStart::earliest), 0);
}

TEST(KafkaMemberDepth, CountsTheAssignedPartitionsLessWhatIsInFlight) {
  const WatermarkMap marks{{kP0, {0, 100}}, {kP1, {0, 50}}, {kP2, {0, 1000}}};
  // kP2 is another member's: not counted here.
  EXPECT_EQ(member_depth({{kP0, 90}, {kP1, 45}}, marks, 3, KafkaStart::earliest), 10 + 5 - 3);
  EXPECT_EQ(member_depth({{kP0, 100}}, marks, 0, KafkaStart::earliest), 0);
  EXPECT_EQ(member_depth({{kP0, 99}}, marks, 4, KafkaStart::earliest), 0) << "never below 0";
}

TEST(KafkaMemberDepth, WithoutABacklogStartTheStartRuleDecides) {
  const WatermarkMap marks{{kP0, {10, 100}}};
  EXPECT_EQ(member_depth({{kP0, std::nullopt}}, marks, 0, KafkaStart::earliest), 90);
  EXPECT_EQ(member_depth({{kP0, std::nullopt}}, marks, 0, KafkaStart::latest), 0);
  // A start below the log's first offset counts from the low watermark.
  EXPECT_EQ(member_depth({{kP0, 2}}, marks, 0, KafkaStart::earliest), 90);
}

TEST(KafkaMemberDepth, UnknownWithoutTheWatermarksOfAnAssignedPartition) {
  EXPECT_EQ(member_depth({{kP0, 1}, {kP1, 1}}, {{kP0, {0, 10}}}, 0, KafkaStart::earliest),
            std::nullopt);
  EXPECT_EQ(member_depth({}, {}, 0, KafkaStart::earliest), 0);
}

}  // namespace
}  // namespace triggerd::kafka
