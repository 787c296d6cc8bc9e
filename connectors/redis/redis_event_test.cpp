#include "connectors/redis/redis_event.hpp"

#include <gtest/gtest.h>

namespace triggerd::redis {
namespace {

Reply fields(std::initializer_list<const char*> items) {
  Reply reply;
  reply.type = Reply::Type::kArray;
  for (const char* item : items) {
    Reply element;
    element.type = Reply::Type::kString;
    element.str = item;
    reply.elements.push_back(element);
  }
  return reply;
}

TEST(RedisStreamEvent, SendsASingleDataFieldAsItIs) {
  Event event = make_stream_event("main", "jobs", "1700000000123-4", fields({"data", "hello"}));
  EXPECT_EQ(event.id, "1700000000123-4");
  EXPECT_EQ(event.source, "redis://main/jobs");
  EXPECT_EQ(event.type, "dev.triggerd.redis.stream.entry");
  EXPECT_EQ(event.content_type, "application/octet-stream");
  EXPECT_EQ(event.data, "hello");
  EXPECT_EQ(event.time.time_since_epoch(), std::chrono::milliseconds(1700000000123));
}

// An id given to XADD may lie past what the clock holds; it overflowed the nanoseconds.
TEST(RedisStreamEvent, AnIdBeyondTheClockIsItsLatestTime) {
  const auto latest = std::chrono::system_clock::time_point::max();
  EXPECT_EQ(stream_id_time("9999999999999999-0"), latest);
  EXPECT_EQ(stream_id_time("18446744073709551615-0"), latest);
  EXPECT_EQ(make_stream_event("m", "s", "9223372036855-1", fields({"data", "x"})).time, latest);
  EXPECT_EQ(stream_id_time("9223372036854-0").time_since_epoch(),
            std::chrono::milliseconds(9223372036854));
}

TEST(RedisStreamEvent, SendsOtherEntriesAsAJsonObjectOfTheirFields) {
  Event event = make_stream_event("main", "jobs", "1-0", fields({"a", "1", "b", "x\"y"}));
  EXPECT_EQ(event.content_type, "application/json");
  EXPECT_EQ(event.data, R"({"a":"1","b":"x\"y"})");
  Event other = make_stream_event("main", "jobs", "1-0", fields({"payload", "p"}));
  EXPECT_EQ(other.data, R"({"payload":"p"})");
}

TEST(RedisListEvent, GeneratesAnIdAndKeepsTheItem) {
  Event a = make_list_event("main", "work", "item");
  Event b = make_list_event("main", "work", "item");
  EXPECT_NE(a.id, b.id);
  EXPECT_EQ(a.source, "redis://main/work");
  EXPECT_EQ(a.type, "dev.triggerd.redis.list.item");
  EXPECT_EQ(a.data, "item");
}

}  // namespace
}  // namespace triggerd::redis
