#include "connectors/kafka/kafka_event.hpp"

#include <algorithm>
#include <utility>

#include "core/cloudevents.hpp"
#include "core/time_format.hpp"

namespace triggerd::kafka {

namespace {

std::optional<std::string_view> find(const KafkaMessageView& message, std::string_view name) {
  for (const auto& [header, value] : message.headers) {
    if (header == name) return value;
  }
  return std::nullopt;
}

// Whether the message carries a whole CloudEvent in the Kafka binding's binary mode.
bool is_binary_cloud_event(const KafkaMessageView& message) {
  const auto specversion = find(message, "ce_specversion");
  const auto id = find(message, "ce_id");
  const auto source = find(message, "ce_source");
  const auto type = find(message, "ce_type");
  return specversion == "1.0" && id && !id->empty() && source && !source->empty() && type &&
         !type->empty();
}

}  // namespace

Event make_kafka_event(std::string_view connection, const KafkaMessageView& message,
                       Payload data, std::chrono::system_clock::time_point now) {
  Event event;
  event.id.append(message.topic)
      .append("-")
      .append(std::to_string(message.partition))
      .append("-")
      .append(std::to_string(message.offset));
  event.source = "kafka://";
  event.source.append(connection).append("/").append(message.topic);
  event.type = kKafkaEventType;
  if (message.key) event.subject = *message.key;
  // A producer sets the timestamp, any 64-bit number; one the clock cannot hold counts as none.
  const auto timestamp =
      message.timestamp_ms ? unix_millis_time(*message.timestamp_ms) : std::nullopt;
  event.time = timestamp.value_or(now);
  event.data = std::move(data);

  const bool cloud_event = is_binary_cloud_event(message);
  for (const auto& [header, value] : message.headers) {
    if (header == "content-type") {
      event.content_type = value;
      continue;
    }
    if (header == "traceparent") {
      event.traceparent = value;
      continue;
    }
    if (header == "tracestate") {
      event.tracestate = value;
      continue;
    }
    if (header.size() <= 3 || header.substr(0, 3) != "ce_") continue;
    const std::string_view name = header.substr(3);
    if (!is_cloudevents_attribute_name(name) || has_control_characters(value)) continue;
    if (name == "specversion" || name == "trigger" || name == "attempt") continue;
    if (name == "time") {
      if (!cloud_event) continue;
      if (const auto time = parse_rfc3339(value)) event.time = *time;
    } else if (std::string* member = attribute_member(event, name)) {
      // id, source, type and subject: a whole CloudEvent's own replace triggerd's identity of
      // the message. datacontenttype and the trace context: the binding puts them in
      // content-type, traceparent and tracestate, so ce_* only fills in.
      // id, source and type are never empty in a CloudEvent: a header given twice, the second
      // time empty, must not blank what the first one set.
      const bool required = name == "id" || name == "source" || name == "type";
      const bool identity = required || name == "subject";
      if (required && value.empty()) continue;
      if (identity ? cloud_event : member->empty()) *member = value;
    } else if (std::none_of(event.attributes.begin(), event.attributes.end(),
                            [&](const auto& attribute) { return attribute.first == name; })) {
      event.attributes.emplace_back(std::string(name), std::string(value));
    }
  }
  return event;
}

}  // namespace triggerd::kafka
