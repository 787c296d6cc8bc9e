#pragma once
// The two figures the Kafka source publishes from the queue's offsets, kept apart from
// librdkafka so that they can be tested alone:
//
// - depth: what waits on this member's own partitions, not yet taken (Σ over the assigned
//   partitions of high watermark − where this member's backlog starts, less its events in
//   flight);
// - backlog total: the whole group's unfinished work as Kafka sees it, the same from every
//   member (Σ over every partition of the topics of high watermark − the group's committed
//   offset), which is what an autoscaler must see whichever replica it asks.
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "config/config.hpp"
#include "connectors/kafka/kafka_offsets.hpp"

namespace triggerd::kafka {

struct Watermarks {
  std::int64_t low = 0;   // the first offset still in the log
  std::int64_t high = 0;  // one past the last offset (the next one written)
};

using WatermarkMap = std::map<TopicPartition, Watermarks>;
// Only partitions with a committed offset appear.
using CommittedMap = std::map<TopicPartition, std::int64_t>;

// Σ over `watermarks` of (high − where the group consumes next). That is the committed
// offset when it is within the log; with none, or one outside the log (retention removed
// what it points at, or the topic was recreated), the consumer starts where `start` says, as
// librdkafka's auto.offset.reset makes it: `earliest` at the low watermark, `latest` at the
// high one (nothing waits). Committed offsets of partitions not in `watermarks` count nothing.
std::int64_t group_backlog(const WatermarkMap& watermarks, const CommittedMap& committed,
                           config::KafkaStart start);

struct AssignedPartition {
  TopicPartition partition;
  // Where this member's backlog starts: its first unfinished offset once it has taken
  // something, else the group's committed offset as read at the assignment; nothing when
  // neither is known (the start rule then decides).
  std::optional<std::int64_t> backlog_start;
};

// Σ over `assigned` of (high − backlog start), less `in_flight` (taken, not finished, so counted
// by the trigger instead), never below 0. Nothing when a partition's watermarks are missing.
std::optional<std::int64_t> member_depth(const std::vector<AssignedPartition>& assigned,
                                         const WatermarkMap& watermarks, std::int64_t in_flight,
                                         config::KafkaStart start);

}  // namespace triggerd::kafka
