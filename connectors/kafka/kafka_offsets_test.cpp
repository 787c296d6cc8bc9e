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

TEST(PartitionOffsets, ReportsUncommittedWhenTheOffsetMovedOrAnEventFinished) {
  PartitionOffsets offsets;
  offsets.taken(0);
  EXPECT_TRUE(offsets.has_uncommitted());  // committing 0 is harmless and starts the group
  offsets.commit_sent();
  EXPECT_FALSE(offsets.has_uncommitted());
  offsets.taken(1);
  offsets.taken(2);
  EXPECT_FALSE(offsets.has_uncommitted());
  offsets.finished(2);  // the offset stays, the metadata changes
  EXPECT_TRUE(offsets.has_uncommitted());
  offsets.commit_sent();
  EXPECT_FALSE(offsets.has_uncommitted());
  offsets.finished(0);
  EXPECT_TRUE(offsets.has_uncommitted());
  offsets.commit_sent();
  EXPECT_FALSE(offsets.has_uncommitted());
}

TEST(OffsetTracker, OutcomesAfterARevokeDoNotCommit) {
  OffsetTracker tracker;
  const TopicPartition p0{"orders", 0};
  const std::uint64_t first = tracker.assign({p0});
  ASSERT_EQ(tracker.taken(p0, 5), Take::deliver);
  tracker.revoke({p0});
  EXPECT_EQ(tracker.taken(p0, 6), Take::not_assigned);
  tracker.finished(p0, first, 5);
  EXPECT_TRUE(tracker.take_commits().empty());

  // Assigned again (a new generation): the old event's outcome still must not count.
  const std::uint64_t second = tracker.assign({p0});
  EXPECT_NE(first, second);
  ASSERT_EQ(tracker.taken(p0, 5), Take::deliver);
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

TEST(OffsetTracker, TakeAllCommitsListsEveryPartitionWithSomethingTakenMovedOrNot) {
  OffsetTracker tracker;
  const TopicPartition p0{"orders", 0};
  const TopicPartition p1{"orders", 1};
  const std::uint64_t generation = tracker.assign({p0, p1});
  tracker.taken(p0, 7);
  tracker.finished(p0, generation, 7);
  EXPECT_EQ(tracker.take_commits().size(), 1u);
  const auto commits = tracker.take_all_commits();  // p1 has nothing taken: nothing to commit
  ASSERT_EQ(commits.size(), 1u);
  EXPECT_EQ(commits[0].partition, p0);
  EXPECT_EQ(commits[0].offset, 8);
}

TEST(OffsetTracker, TakeAllCommitsCountsAsSentUntilItsResult) {
  OffsetTracker tracker;
  const TopicPartition p0{"orders", 0};
  const std::uint64_t generation = tracker.assign({p0});
  tracker.taken(p0, 0);
  tracker.finished(p0, generation, 0);
  EXPECT_EQ(tracker.take_all_commits().size(), 1u);
  EXPECT_TRUE(tracker.take_commits().empty());  // nothing new since
  EXPECT_EQ(tracker.unconfirmed(), 1);
  tracker.commit_failed();
  EXPECT_EQ(tracker.take_commits().size(), 1u);  // sent again
  tracker.commit_confirmed();
  EXPECT_EQ(tracker.unconfirmed(), 0);
}

TEST(PartitionOffsets, FetchingStandsPastTheLastTakenOrAtTheGroupsCommittedOffset) {
  PartitionOffsets offsets;
  EXPECT_EQ(offsets.fetch_position(), std::nullopt);
  offsets.set_group_committed(10);
  EXPECT_EQ(offsets.fetch_position(), 10);
  offsets.taken(10);
  offsets.taken(12);  // 11 compacted away
  EXPECT_EQ(offsets.fetch_position(), 13);
  offsets.finished(10);
  offsets.finished(12);
  EXPECT_EQ(offsets.fetch_position(), 13);
}

TEST(PartitionOffsets, TheBacklogStartsAtTheGroupsCommittedOffsetUntilSomethingIsTaken) {
  PartitionOffsets offsets;
  EXPECT_EQ(offsets.backlog_start(), std::nullopt);
  offsets.set_group_committed(10);
  EXPECT_EQ(offsets.backlog_start(), 10);  // a restart with nothing left: depth 0, not all
  offsets.taken(10);
  offsets.taken(11);
  offsets.finished(10);
  EXPECT_EQ(offsets.backlog_start(), 11);
  offsets.finished(11);
  EXPECT_EQ(offsets.backlog_start(), 12);
}

TEST(PartitionOffsets, NamesTheFinishedOffsetsPastTheCommittedOne) {
  PartitionOffsets offsets;
  for (std::int64_t offset = 100; offset < 112; ++offset) offsets.taken(offset);
  for (std::int64_t offset : {103, 104, 105, 110, 101}) offsets.finished(offset);
  EXPECT_EQ(offsets.commit_offset(), 100);
  EXPECT_EQ(offsets.finished_ahead(),
            (std::vector<OffsetRun>{{101, 102}, {103, 106}, {110, 111}}));
}

TEST(PartitionOffsets, SkipsWhatAPreviousOwnerFinishedAndKeepsNamingIt) {
  PartitionOffsets offsets;
  // The previous owner committed 100 with 103-105 and 110 finished.
  offsets.preset_finished(decode_commit_metadata(100, "td1:3.3,4.1"));
  EXPECT_EQ(offsets.taken(100), Take::deliver);
  EXPECT_EQ(offsets.taken(101), Take::deliver);
  EXPECT_EQ(offsets.taken(102), Take::deliver);
  EXPECT_EQ(offsets.taken(103), Take::skip);
  EXPECT_EQ(offsets.taken(104), Take::skip);
  // Not fetched yet, 105 and 110 are still named: a crash now must not lose that.
  EXPECT_EQ(offsets.finished_ahead(), (std::vector<OffsetRun>{{103, 106}, {110, 111}}));
  offsets.finished(101);
  offsets.finished(100);
  EXPECT_EQ(offsets.commit_offset(), 102);
  offsets.finished(102);
  EXPECT_EQ(offsets.commit_offset(), 105);
  EXPECT_EQ(offsets.taken(105), Take::skip);
  EXPECT_EQ(offsets.commit_offset(), 106);
  EXPECT_EQ(offsets.taken(106), Take::deliver);
  EXPECT_EQ(offsets.taken(110), Take::skip);
  EXPECT_EQ(offsets.taken(111), Take::deliver);
  EXPECT_EQ(offsets.in_flight(), 2);
  EXPECT_EQ(offsets.finished_ahead(), (std::vector<OffsetRun>{{110, 111}}));
}

TEST(PartitionOffsets, CountsFinishedEventsUntilTheirCommitIsConfirmed) {
  PartitionOffsets offsets;
  for (std::int64_t offset = 0; offset < 5; ++offset) offsets.taken(offset);
  offsets.finished(0);
  offsets.finished(3);
  EXPECT_EQ(offsets.unconfirmed(), 2);
  offsets.commit_sent();
  offsets.finished(1);
  EXPECT_EQ(offsets.unconfirmed(), 3);
  offsets.commit_failed();  // all three wait for the next commit
  EXPECT_TRUE(offsets.has_uncommitted());
  offsets.commit_sent();
  EXPECT_EQ(offsets.unconfirmed(), 3);
  offsets.commit_confirmed();
  EXPECT_EQ(offsets.unconfirmed(), 0);
}

TEST(CommitMetadata, RoundTripsRuns) {
  const std::vector<OffsetRun> runs{{103, 106}, {110, 111}, {5000, 90000}};
  const std::string text = encode_commit_metadata(100, runs);
  EXPECT_EQ(text.substr(0, 12), "td1:3.3,4.1,");
  EXPECT_EQ(decode_commit_metadata(100, text), runs);
  EXPECT_EQ(encode_commit_metadata(100, {}), "");
}

TEST(CommitMetadata, OtherOrBrokenMetadataSkipsNothing) {
  EXPECT_TRUE(decode_commit_metadata(7, "").empty());
  EXPECT_TRUE(decode_commit_metadata(7, "some other client's note").empty());
  EXPECT_TRUE(decode_commit_metadata(7, "td1:0.3").empty());  // would skip the committed one
  EXPECT_TRUE(decode_commit_metadata(7, "td1:3.").empty());
  EXPECT_TRUE(decode_commit_metadata(7, "td1:3.2,-1.1").empty());
  EXPECT_TRUE(decode_commit_metadata(7, "td1:3.0").empty());
}

TEST(CommitMetadata, LeavesOutRunsThatDoNotFitAndSaysHowMany) {
  std::vector<OffsetRun> runs;
  for (std::int64_t i = 0; i < 2000; ++i) runs.push_back({1 + i * 3, 2 + i * 3});
  std::size_t encoded = 0;
  const std::string text = encode_commit_metadata(0, runs, &encoded);
  EXPECT_LE(text.size(), kMaxCommitMetadata);
  EXPECT_GT(encoded, 500u);
  EXPECT_LT(encoded, runs.size());
  const auto decoded = decode_commit_metadata(0, text);
  ASSERT_EQ(decoded.size(), encoded);
  EXPECT_EQ(decoded.back(), runs[encoded - 1]);
}

}  // namespace
}  // namespace triggerd::kafka
