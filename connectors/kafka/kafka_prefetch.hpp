#pragma once
// How much of a partition's backlog a Kafka source holds in memory, derived from its trigger's
// max_inflight so that memory stays bounded whatever the backlog (SPEC section 6). Two stages
// hold fetched messages: librdkafka's prefetch queue (one per consumer: every assigned
// partition feeds it), which stops fetching at queued.min.messages or
// queued.max.messages.kbytes, and the source's own buffer, from which the event loop hands
// messages to the trigger. The source takes from librdkafka's queue only while its buffer has
// room; nothing is paused and fetched again.
#include <cstddef>

namespace triggerd::kafka {

struct PrefetchLimits {
  // The source's buffer: it stops taking from librdkafka at either bound.
  std::size_t buffer_messages = 0;
  std::size_t buffer_bytes = 0;
  // librdkafka's queue: `queued.min.messages` and `queued.max.messages.kbytes` (the
  // connection's options may set others). librdkafka also caps one fetch response
  // (fetch.max.bytes) at the latter, though never below message.max.bytes.
  std::size_t queued_min_messages = 0;
  std::size_t queued_max_kbytes = 0;
};

PrefetchLimits prefetch_limits(int max_inflight);

}  // namespace triggerd::kafka
