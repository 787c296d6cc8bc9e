#pragma once
// How a Kafka message becomes an Event (SPEC section 3): ce-type dev.triggerd.kafka.message,
// ce-source kafka://CONNECTION/TOPIC, ce-id TOPIC-PARTITION-OFFSET, the key as ce-subject,
// the value byte for byte with the message's `content-type` header. `traceparent`,
// `tracestate` and `ce_*` headers (the CloudEvents Kafka binding) are honoured.
//
// Pure: takes a plain view of the message, not librdkafka's, so the rules are tested alone.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/event.hpp"
#include "core/payload.hpp"

namespace triggerd::kafka {

inline constexpr std::string_view kKafkaEventType = "dev.triggerd.kafka.message";

struct KafkaMessageView {
  std::string_view topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::optional<std::string_view> key;
  std::optional<std::int64_t> timestamp_ms;  // the message's timestamp, when it has one
  std::vector<std::pair<std::string_view, std::string_view>> headers;
};

// A message that is a CloudEvent in the Kafka binding's binary mode (headers ce_specversion
// 1.0, ce_id, ce_source, ce_type) keeps its own id, source, type, subject and time; otherwise
// triggerd's apply. Other ce_* headers with valid attribute names become extension
// attributes either way; invalid ones are skipped (a message cannot be refused).
// `data` is the message's value as the event is to hold it (the source lends it in place);
// `now` is the time when the message has no timestamp, or one outside the years 1677 to 2262
// (the system clock's).
Event make_kafka_event(std::string_view connection, const KafkaMessageView& message,
                       Payload data, std::chrono::system_clock::time_point now);

}  // namespace triggerd::kafka
