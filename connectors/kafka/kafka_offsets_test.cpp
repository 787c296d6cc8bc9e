#include "connectors/kafka/kafka_offsets.hpp"

#include <gtest/gtest.h>

namespace triggerd::kafka {
namespace {

TEST(PartitionOffsets, NothingToCommitBeforeAnEventIsTaken) {
  PartitionOffsets offsets;
  EXPECT_EQ(offsets.commit_offset(), std::nullopt);
  EXPECT_FALSE(offsets.has_uncommitted());
  EXPECT_EQ(offsets.in_flight(), 0);
}

TEST(PartitionOffsets, CommitsOnlyTheContiguousFinishedPrefix) {
  PartitionOffsets offsets;
  for (std::int64_t offset = 10; offset < 15; ++offset) offsets.taken(offset);
  EXPECT_EQ(offsets.commit_offset(), 10);
  EXPECT_EQ(offsets.in_flight(), 5);

  offsets.finished(11);
  offsets.finished(12);
  EXPECT_EQ(offsets.commit_offset(), 10);  // 10 is still out: a crash must redeliver it
  offsets.finished(10);
  EXPECT_EQ(offsets.commit_offset(), 13);
  offsets.finished(14);
  EXPECT_EQ(offsets.commit_offset(), 13);
  offsets.finished(13);
  EXPECT_EQ(offsets.commit_offset(), 15);  // all finished: one past the last taken
  EXPECT_EQ(offsets.in_flight(), 0);
}

TEST(PartitionOffsets, GapsInOffsetsAreNotWaitedFor) {
  PartitionOffsets offsets;
  offsets.taken(3);
  offsets.taken(7);  // 4..6 were compacted away
  offsets.finished(3);
  EXPECT_EQ(offsets.commit_offset(), 7);
  offsets.finished(7);
  EXPECT_EQ(offsets.commit_offset(), 8);
}

TEST(PartitionOffsets, RepeatedAndUnknownOutcomesChangeNothing) {
  PartitionOffsets offsets;
  offsets.taken(0);
  offsets.taken(1);
  offsets.finished(1);
  offsets.finished(1);
  offsets.finished(42);
  EXPECT_EQ(offsets.in_flight(), 1);
  EXPECT_EQ(offsets.commit_offset(), 0);
}

TEST(PartitionOffsets, ReportsUncommittedOnlyWhenTheOffsetMoved) {
  PartitionOffsets offsets;
  offsets.taken(0);
  EXPECT_TRUE(offsets.has_uncommitted());  // committing 0 is harmless and starts the group
  offsets.mark_committed();
  EXPECT_FALSE(offsets.has_uncommitted());
  offsets.taken(1);
  EXPECT_FALSE(offsets.has_uncommitted());
  offsets.finished(0);
  EXPECT_TRUE(offsets.has_uncommitted());
  offsets.mark_committed();
  EXPECT_FALSE(offsets.has_uncommitted());
}

TEST(OffsetTracker, OutcomesAfterARevokeDoNotCommit) {
  OffsetTracker tracker;
  const TopicPartition p0{"orders", 0};
  const std::uint64_t first = tracker.assign({p0});
  ASSERT_TRUE(tracker.taken(p0, 5));
  tracker.revoke({p0});
  EXPECT_FALSE(tracker.taken(p0, 6));
  tracker.finished(p0, first, 5);
  EXPECT_TRUE(tracker.take_commits().empty());

  // Assigned again (a new generation): the old event's outcome still must not count.
  const std::uint64_t second = tracker.assign({p0});
  EXPECT_NE(first, second);
  ASSERT_TRUE(tracker.taken(p0, 5));
  tracker.finished(p0, first, 5);
  EXPECT_EQ(tracker.in_flight(), 1);
  tracker.finished(p0, second, 5);
  const auto commits = tracker.take_commits();
  ASSERT_EQ(commits.size(), 1u);
  EXPECT_EQ(commits[0].offset, 6);
}

TEST(OffsetTracker, TakesCommitsOncePerMove) {
  OffsetTracker tracker;
  const TopicPartition p0{"orders", 0};
  const TopicPartition p1{"orders", 1};
  const std::uint64_t generation = tracker.assign({p0, p1});
  tracker.taken(p0, 0);
  tracker.taken(p1, 0);
  tracker.finished(p0, generation, 0);
  tracker.finished(p1, generation, 0);
  EXPECT_EQ(tracker.take_commits({p1}).size(), 1u);
  const auto commits = tracker.take_commits();
  ASSERT_EQ(commits.size(), 1u);
  EXPECT_EQ(commits[0].partition, p0);
  EXPECT_EQ(commits[0].offset, 1);
  EXPECT_TRUE(tracker.take_commits().empty());
}

TEST(OffsetTracker, CurrentListsEveryPartitionWithSomethingTakenMovedOrNot) {
  OffsetTracker tracker;
  const TopicPartition p0{"orders", 0};
  const TopicPartition p1{"orders", 1};
  const std::uint64_t generation = tracker.assign({p0, p1});
  tracker.taken(p0, 7);
  tracker.finished(p0, generation, 7);
  EXPECT_EQ(tracker.take_commits().size(), 1u);
  const auto commits = tracker.current();  // p1 has nothing taken: nothing to commit
  ASSERT_EQ(commits.size(), 1u);
  EXPECT_EQ(commits[0].partition, p0);
  EXPECT_EQ(commits[0].offset, 8);
}

}  // namespace
}  // namespace triggerd::kafka
