#include "connectors/kafka/kafka_prefetch.hpp"

#include <algorithm>

namespace triggerd::kafka {
namespace {

// A partition keeps at least this many messages at hand, at most this many ready (a slow
// function holds fewer than max_inflight of one partition anyway).
constexpr std::size_t kMinQueuedMessages = 64;
constexpr std::size_t kMaxQueuedMessages = 1000;
// Bytes per partition: 8 KiB per slot, within a floor (fetches worth their round trip: each
// costs librdkafka's threads more than the bytes do) and a cap (many partitions multiply it).
constexpr std::size_t kBytesPerSlot = 8 * 1024;
constexpr std::size_t kMinPartitionBytes = 512 * 1024;
constexpr std::size_t kMaxPartitionBytes = 8u << 20;
constexpr std::size_t kTakeAhead = 32;
constexpr std::size_t kKeyLookahead = 256;

}  // namespace

PrefetchLimits prefetch_limits(int max_inflight) {
  const auto slots = static_cast<std::size_t>(std::max(1, max_inflight));
  PrefetchLimits limits;
  limits.queued_min_messages = std::clamp(slots, kMinQueuedMessages, kMaxQueuedMessages);
  const std::size_t partition_bytes =
      std::clamp(slots * kBytesPerSlot, kMinPartitionBytes, kMaxPartitionBytes);
  limits.queued_max_kbytes = partition_bytes / 1024;
  // One response in flight comes on top of the queue.
  limits.partition_fetch_bytes = partition_bytes;
  limits.take_ahead = std::min(slots, kTakeAhead);
  limits.key_lookahead = kKeyLookahead;
  return limits;
}

}  // namespace triggerd::kafka
