#pragma once
// How much of a partition's backlog a Kafka source holds in memory, derived from its trigger's
// max_inflight so that memory stays bounded whatever the backlog (docs/kafka.md). Each
// assigned partition has a librdkafka queue of its own, which stops fetching the partition at
// `queued.min.messages` or `queued.max.messages.kbytes` (per partition, since the queues are
// not forwarded to the consumer's); a fetch response brings at most
// `max.partition.fetch.bytes` of one partition. The event loop takes from a queue only a few
// messages ahead of starting them. Nothing is paused and fetched again.
#include <cstddef>

namespace triggerd::kafka {

struct PrefetchLimits {
  // librdkafka's options (the connection's options may set others).
  std::size_t queued_min_messages = 0;    // queued.min.messages
  std::size_t queued_max_kbytes = 0;      // queued.max.messages.kbytes
  std::size_t partition_fetch_bytes = 0;  // max.partition.fetch.bytes
  // Messages the event loop takes from a partition's queue before they may start: enough for
  // a batch, and with `ordering: key` the look-ahead past busy keys.
  std::size_t take_ahead = 0;
  std::size_t key_lookahead = 0;
};

PrefetchLimits prefetch_limits(int max_inflight);

}  // namespace triggerd::kafka
