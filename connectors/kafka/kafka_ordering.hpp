#pragma once
// The trigger's `ordering` for the Kafka source: which taken message may be handed to the
// trigger now. `none`: any (up to max_inflight, which the sink enforces). `partition`: one in
// flight per partition. `key`: one in flight per key within its partition, different keys in
// parallel; messages without a key count as one key. Commits stay contiguous whatever the
// ordering (OffsetTracker), so a slow key holds back the commit, not the other keys.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "config/config.hpp"
#include "connectors/kafka/kafka_offsets.hpp"

namespace triggerd::kafka {

class OrderingGate {
 public:
  explicit OrderingGate(config::Ordering ordering) : ordering_(ordering) {}

  config::Ordering ordering() const { return ordering_; }
  bool may_start(const TopicPartition& partition, std::optional<std::string_view> key) const;
  // Call when the message is handed to the trigger, and when its outcome arrives.
  void started(const TopicPartition& partition, std::optional<std::string_view> key);
  void finished(const TopicPartition& partition, std::optional<std::string_view> key);
  // Revoked: its messages' outcomes no longer hold anything back.
  void forget(const TopicPartition& partition);

 private:
  // A key within a partition; nullopt (no key) sorts first and is a key of its own.
  using Slot = std::pair<TopicPartition, std::optional<std::string>>;
  static Slot slot(const TopicPartition& partition, std::optional<std::string_view> key);

  config::Ordering ordering_;
  std::set<TopicPartition> busy_partitions_;
  std::set<Slot> busy_keys_;
};

// Under batched delivery the gate lets every message go and the batcher keeps the order by
// Event::order_group instead: this is a message's group under `ordering`, one per partition, or
// per key within its partition; 0 with `none`. A hash, never 0 otherwise: groups that collide
// share batches, which keeps the order of both, only with less in parallel.
std::uint64_t order_group(config::Ordering ordering, std::string_view topic,
                          std::int32_t partition, std::optional<std::string_view> key);

}  // namespace triggerd::kafka
