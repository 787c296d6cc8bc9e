#include "connectors/redis/redis_stream_backlog.hpp"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

namespace triggerd::redis {
namespace {

Reply text(const std::string& value) {
  Reply reply;
  reply.type = Reply::Type::kString;
  reply.str = value;
  return reply;
}

Reply number(long long value) {
  Reply reply;
  reply.type = Reply::Type::kInteger;
  reply.integer = value;
  return reply;
}

Reply nil() { return Reply{}; }

Reply array(std::vector<Reply> elements) {
  Reply reply;
  reply.type = Reply::Type::kArray;
  reply.elements = std::move(elements);
  return reply;
}

// One group of XINFO GROUPS as Redis 7.0 answers it.
Reply group(const std::string& name, long long pending, const std::string& last_delivered,
            Reply entries_read, Reply lag) {
  return array({text("name"), text(name), text("consumers"), number(2), text("pending"),
                number(pending), text("last-delivered-id"), text(last_delivered),
                text("entries-read"), std::move(entries_read), text("lag"), std::move(lag)});
}

// XINFO STREAM with its first and last entries (nil when empty).
Reply stream(long long length, long long entries_added, const std::string& first,
             const std::string& last) {
  auto entry = [](const std::string& id) {
    return id.empty() ? nil() : array({text(id), array({text("f"), text("v")})});
  };
  return array({text("length"), number(length), text("radix-tree-keys"), number(1),
                text("last-generated-id"), text(last.empty() ? "0-0" : last),
                text("max-deleted-entry-id"), text("0-0"), text("entries-added"),
                number(entries_added), text("groups"), number(1), text("first-entry"), entry(first),
                text("last-entry"), entry(last)});
}

TEST(RedisStreamGroup, ReadsPendingLagAndPositionOfTheNamedGroup) {
  const Reply groups = array({group("other", 9, "9-0", number(9), number(0)),
                              group("triggerd", 7, "5-1", number(12), number(40))});
  const auto info = find_stream_group(groups, "triggerd");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->pending, 7);
  EXPECT_EQ(info->lag, 40);
  EXPECT_EQ(info->last_delivered_id, "5-1");
  EXPECT_EQ(info->entries_read, 12);
  EXPECT_FALSE(find_stream_group(groups, "missing"));
  Reply error;
  error.type = Reply::Type::kError;
  EXPECT_FALSE(find_stream_group(error, "triggerd"));
}

TEST(RedisStreamGroup, ANilLagOrReadCounterIsUnknownNotZero) {
  const auto info = find_stream_group(array({group("g", 2, "2-0", nil(), nil())}), "g");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->lag, std::nullopt);
  EXPECT_EQ(info->entries_read, std::nullopt);
}

TEST(RedisStreamIds, CompareByMillisecondsThenSequence) {
  EXPECT_LT(compare_stream_ids("1-0", "2-0"), 0);
  EXPECT_LT(compare_stream_ids("9-5", "10-0"), 0) << "numbers, not text";
  EXPECT_GT(compare_stream_ids("5-10", "5-9"), 0);
  EXPECT_EQ(compare_stream_ids("7", "7-0"), 0);
  EXPECT_LT(compare_stream_ids("0-0", "1-0"), 0);
}

TEST(RedisStreamUnread, AGroupBeforeTheFirstEntryHasAllOfItUnread) {
  // The stream was trimmed past the group, or the group starts at 0.
  const auto info = read_stream_info(stream(5, 6, "3-0", "8-0"));
  ASSERT_TRUE(info);
  EXPECT_EQ(info->first_id, "3-0");
  EXPECT_EQ(info->last_id, "8-0");
  EXPECT_EQ(unread_bound({.last_delivered_id = "2-0"}, *info), 5);
  EXPECT_EQ(unread_bound({.last_delivered_id = "0-0"}, *info), 5);
}

TEST(RedisStreamUnread, AGroupAtOrPastTheLastEntryHasNothingUnread) {
  const auto info = read_stream_info(stream(5, 6, "3-0", "8-0"));
  ASSERT_TRUE(info);
  EXPECT_EQ(unread_bound({.last_delivered_id = "8-0"}, *info), 0);
  EXPECT_EQ(unread_bound({.last_delivered_id = "9-0"}, *info), 0);
  const auto empty = read_stream_info(stream(0, 6, "", ""));
  ASSERT_TRUE(empty);
  EXPECT_EQ(unread_bound({.last_delivered_id = "2-0"}, *empty), 0);
}

TEST(RedisStreamUnread, InBetweenItCountsWhatWasAddedLessWhatWasReadWithinTheLength) {
  // Six added, entry 4-0 deleted, the group read two: three are unread, four are counted (the
  // deleted one too), never more than the stream holds.
  const auto info = read_stream_info(stream(5, 6, "1-0", "6-0"));
  ASSERT_TRUE(info);
  EXPECT_EQ(unread_bound({.last_delivered_id = "2-0", .entries_read = 2}, *info), 4);
  EXPECT_EQ(unread_bound({.last_delivered_id = "2-0", .entries_read = 0}, *info), 5);
  // Without the read counter: the whole stream, an upper bound.
  EXPECT_EQ(unread_bound({.last_delivered_id = "2-0"}, *info), 5);
}

TEST(RedisStreamUnread, NotAStreamInfoReplyIsNothing) {
  EXPECT_FALSE(read_stream_info(nil()));
  EXPECT_FALSE(read_stream_info(array({text("groups"), number(1)})));
}

}  // namespace
}  // namespace triggerd::redis
