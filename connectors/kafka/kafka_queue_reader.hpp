#pragma once
// Reads what Kafka says about a consumer group's queue, for the depth and the backlog total
// (kafka_backlog.hpp): the partitions of its topics, their watermarks and the group's
// committed offsets. Each read is one batched request however many partitions there are
// (librdkafka sends one per broker involved, in parallel) and is bounded by a timeout.
//
// On a librdkafka client of its own that joins no group: on the consumer's connections the
// queries would wait behind long-polling fetches, and a slow answer must never hold up the
// group's rebalances and commits. Blocking: called from the source's depth thread only.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "connectors/kafka/kafka_backlog.hpp"
#include "connectors/kafka/kafka_offsets.hpp"

struct rd_kafka_s;
struct rd_kafka_queue_s;

namespace triggerd::kafka {

class QueueReader {
 public:
  // Takes `client` (any client type; it joins no group) and destroys it at the end. Each
  // request waits at most `timeout`; none is sent once `stopping` says so (the read then fails),
  // so that a stop waits for one request at most.
  QueueReader(rd_kafka_s* client, std::vector<std::string> topics, std::string group,
              std::chrono::milliseconds timeout, std::function<bool()> stopping);
  ~QueueReader();
  QueueReader(const QueueReader&) = delete;
  QueueReader& operator=(const QueueReader&) = delete;

  // Every partition of the topics (a topic that does not exist has none), from metadata read
  // at most a while ago, read again first when `known` (the partitions assigned to this member)
  // holds one it lacks: partitions were added. `known` ones are in the answer whatever metadata
  // says. Nothing, with error() set, when metadata could not be read and never was.
  std::optional<std::vector<TopicPartition>> partitions(const std::vector<TopicPartition>& known);
  // The low and high watermarks of `partitions`, or nothing with error() set.
  std::optional<WatermarkMap> watermarks(const std::vector<TopicPartition>& partitions);
  // The group's committed offsets of `partitions` (those with one), or nothing with error()
  // set.
  std::optional<CommittedMap> committed(const std::vector<TopicPartition>& partitions);

  // What the last read that failed said, for the log: "watermarks: Local: Timed out".
  const std::string& error() const { return error_; }

 private:
  bool read_metadata();
  // Whether to send no more requests (error() says so).
  bool stopped();

  rd_kafka_s* client_;
  rd_kafka_queue_s* admin_results_;
  const std::vector<std::string> topics_;
  const std::string group_;
  const std::chrono::milliseconds timeout_;
  const std::function<bool()> stopping_;
  std::vector<TopicPartition> partitions_;
  std::optional<std::chrono::steady_clock::time_point> metadata_read_at_;
  std::string error_;
  std::uintptr_t requests_ = 0;  // committed() requests sent
};

}  // namespace triggerd::kafka
