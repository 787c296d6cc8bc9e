#include "connectors/kafka/kafka_prefetch.hpp"

#include <algorithm>

namespace triggerd::kafka {
namespace {

// A trigger with a handful of slots still gets batches worth the round trip.
constexpr std::size_t kMinBufferMessages = 256;
// Bytes allowed per buffered message before the byte bound applies (1 KiB messages never
// reach it), within a floor and the 16 MiB that librdkafka's queue was capped at before.
constexpr std::size_t kBytesPerMessage = 16 * 1024;
constexpr std::size_t kMinBytes = 2u << 20;
constexpr std::size_t kMaxBytes = 16u << 20;

}  // namespace

PrefetchLimits prefetch_limits(int max_inflight) {
  PrefetchLimits limits;
  limits.buffer_messages =
      std::max(static_cast<std::size_t>(std::max(1, max_inflight)), kMinBufferMessages);
  limits.buffer_bytes = std::clamp(limits.buffer_messages * kBytesPerMessage, kMinBytes, kMaxBytes);
  limits.queued_min_messages = limits.buffer_messages;
  limits.queued_max_kbytes = limits.buffer_bytes / 1024;
  return limits;
}

}  // namespace triggerd::kafka
