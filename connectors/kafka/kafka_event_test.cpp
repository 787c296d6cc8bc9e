#include "connectors/kafka/kafka_event.hpp"

#include <gtest/gtest.h>

#include "core/time_format.hpp"

namespace triggerd::kafka {
namespace {

const auto kNow = std::chrono::system_clock::time_point(std::chrono::seconds(1800000000));

TEST(KafkaEvent, MapsAPlainMessage) {
  KafkaMessageView message;
  message.topic = "orders";
  message.partition = 3;
  message.offset = 42;
  message.key = "customer-7";
  message.timestamp_ms = 1700000000123;
  message.headers = {{"content-type", "application/json"}, {"traceparent", "00-abc-def-01"}};
  const Event event = make_kafka_event("main-kafka", message, std::string("\0bytes", 6), kNow);
  EXPECT_EQ(event.id, "orders-3-42");
  EXPECT_EQ(event.source, "kafka://main-kafka/orders");
  EXPECT_EQ(event.type, "dev.triggerd.kafka.message");
  EXPECT_EQ(event.subject, "customer-7");
  EXPECT_EQ(event.content_type, "application/json");
  EXPECT_EQ(event.traceparent, "00-abc-def-01");
  EXPECT_EQ(event.data, std::string("\0bytes", 6));
  EXPECT_EQ(event.time.time_since_epoch(), std::chrono::milliseconds(1700000000123));
  EXPECT_TRUE(event.attributes.empty());
}

TEST(KafkaEvent, NoKeyNoSubjectNoTimestampNow) {
  KafkaMessageView message;
  message.topic = "t";
  const Event event = make_kafka_event("c", message, "x", kNow);
  EXPECT_EQ(event.subject, "");
  EXPECT_EQ(event.content_type, "");  // the dispatcher sends application/octet-stream
  EXPECT_EQ(event.time, kNow);
}

// Producers set timestamps; one past the year 2262 overflowed the clock's nanoseconds.
TEST(KafkaEvent, ATimestampTheClockCannotHoldIsTakenAsNone) {
  KafkaMessageView message;
  message.topic = "t";
  for (const std::int64_t timestamp : {INT64_MAX, INT64_MIN, std::int64_t{9223372036855}}) {
    message.timestamp_ms = timestamp;
    EXPECT_EQ(make_kafka_event("c", message, "x", kNow).time, kNow) << timestamp;
  }
}

TEST(KafkaEvent, ExtensionHeadersBecomeAttributesButNotTheIdentity) {
  KafkaMessageView message;
  message.topic = "t";
  message.headers = {{"ce_id", "theirs"},        {"ce_tenant", "acme"},
                     {"ce_Bad-Name", "skipped"}, {"ce_trigger", "not theirs to set"},
                     {"ce_note", "a\nb"},        {"other", "ignored"}};
  const Event event = make_kafka_event("c", message, "x", kNow);
  EXPECT_EQ(event.id, "t-0-0");  // not a whole CloudEvent: triggerd's id
  ASSERT_EQ(event.attributes.size(), 1u);
  EXPECT_EQ(event.attributes[0].first, "tenant");
  EXPECT_EQ(event.attributes[0].second, "acme");
}

// Kafka headers may repeat; a second, empty ce_source left the event without a source.
TEST(KafkaEvent, ARepeatedEmptyHeaderDoesNotBlankTheIdentity) {
  KafkaMessageView message;
  message.topic = "t";
  message.headers = {{"ce_specversion", "1.0"}, {"ce_id", "evt-1"}, {"ce_source", "/shop"},
                     {"ce_type", "com.example"}, {"ce_source", ""},  {"ce_id", ""},
                     {"ce_type", ""}};
  const Event event = make_kafka_event("c", message, "x", kNow);
  EXPECT_EQ(event.id, "evt-1");
  EXPECT_EQ(event.source, "/shop");
  EXPECT_EQ(event.type, "com.example");
}

TEST(KafkaEvent, ABinaryModeCloudEventKeepsItsAttributes) {
  KafkaMessageView message;
  message.topic = "t";
  message.key = "k";
  message.timestamp_ms = 1;
  message.headers = {{"ce_specversion", "1.0"},
                     {"ce_id", "evt-1"},
                     {"ce_source", "/shop"},
                     {"ce_type", "com.example.order"},
                     {"ce_subject", "order-9"},
                     {"ce_time", "2024-02-29T13:05:00Z"},
                     {"content-type", "application/json"},
                     {"ce_datacontenttype", "text/plain"},
                     {"ce_dataschema", "https://example.com/s"}};
  const Event event = make_kafka_event("c", message, "x", kNow);
  EXPECT_EQ(event.id, "evt-1");
  EXPECT_EQ(event.source, "/shop");
  EXPECT_EQ(event.type, "com.example.order");
  EXPECT_EQ(event.subject, "order-9");
  EXPECT_EQ(event.time, *parse_rfc3339("2024-02-29T13:05:00Z"));
  EXPECT_EQ(event.content_type, "application/json");
  ASSERT_EQ(event.attributes.size(), 1u);
  EXPECT_EQ(event.attributes[0].first, "dataschema");
}

}  // namespace
}  // namespace triggerd::kafka
