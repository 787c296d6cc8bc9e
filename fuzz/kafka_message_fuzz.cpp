// A Kafka message as the source hands it to make_kafka_event: topic, partition, offset, key,
// timestamp and headers from the input, the rest of the input as the value, lent the way the
// source lends librdkafka's buffer. Every event must hold the value byte for byte and give the
// loan back exactly once, have an id, a source and a type, and a delivery head that cannot be
// broken (delivery_head_check.hpp). Messages are never refused, so there is nothing else to
// tell apart.
#include <fuzzer/FuzzedDataProvider.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/kafka/kafka_event.hpp"
#include "core/payload.hpp"
#include "delivery_head_check.hpp"

namespace {

[[noreturn]] void fail(const char* why) {
  std::fprintf(stderr, "kafka message: %s\n", why);
  std::abort();
}

// The headers the rules look at, so that the fuzzer need not guess their names.
constexpr std::array<std::string_view, 14> kHeaderNames = {
    "ce_specversion", "ce_id",         "ce_source",          "ce_type",    "ce_subject",
    "ce_time",        "ce_dataschema", "ce_datacontenttype", "ce_trigger", "ce_attempt",
    "content-type",   "traceparent",   "tracestate",         "ce_"};

void count_release(void* context) { ++*static_cast<int*>(context); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider input(data, size);
  const std::string connection = input.ConsumeRandomLengthString(32);
  const std::string topic = input.ConsumeRandomLengthString(64);
  std::optional<std::string> key;
  if (input.ConsumeBool()) key = input.ConsumeRandomLengthString(128);
  const int header_count = input.ConsumeIntegralInRange(0, 12);
  std::vector<std::pair<std::string, std::string>> headers;
  for (int i = 0; i < header_count; ++i) {
    std::string name = input.ConsumeBool()
                           ? std::string(kHeaderNames[input.ConsumeIntegralInRange<std::size_t>(
                                 0, kHeaderNames.size() - 1)])
                           : input.ConsumeRandomLengthString(24);
    headers.emplace_back(std::move(name), input.ConsumeRandomLengthString(96));
  }

  triggerd::kafka::KafkaMessageView message;
  message.topic = topic;
  message.partition = input.ConsumeIntegral<std::int32_t>();
  message.offset = input.ConsumeIntegral<std::int64_t>();
  if (key) message.key = *key;
  if (input.ConsumeBool()) message.timestamp_ms = input.ConsumeIntegral<std::int64_t>();
  for (const auto& [name, value] : headers) message.headers.emplace_back(name, value);
  const std::string value = input.ConsumeRemainingBytesAsString();

  int releases = 0;
  {
    const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
    triggerd::Event event = triggerd::kafka::make_kafka_event(
        connection, message, triggerd::Payload::lent(value, count_release, &releases), now);
    if (event.data.view() != value) fail("the event does not hold the value");
    if (!event.data.is_lent()) fail("the value was copied");
    if (event.id.empty() || event.source.empty() || event.type.empty()) {
      std::fprintf(stderr, "id \"%s\", source \"%s\", type \"%s\"\n", event.id.c_str(),
                   event.source.c_str(), event.type.c_str());
      fail("an event without id, source or type");
    }
    triggerd::fuzz::check_delivery_head(event);
    if (releases != 0) fail("the loan was given back while the event holds it");
  }
  if (releases != 1) fail("the loan was not given back exactly once");
  return 0;
}
