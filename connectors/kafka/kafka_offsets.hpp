#pragma once
// At-least-once bookkeeping of the Kafka source, kept apart from librdkafka so that it can be
// tested alone. Per assigned partition it records which offsets were handed to the trigger
// and which of them are finished; what may be committed is only the contiguous finished
// prefix (the offset of the first unfinished event), so a crash redelivers every event whose
// outcome was not yet known, and nothing after a gap is skipped.
//
// Partitions are tracked per assignment generation: on revoke a partition is forgotten, and
// outcomes that arrive later for events of that generation change nothing (another member may
// already own the partition and have committed further).
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace triggerd::kafka {

class PartitionOffsets {
 public:
  // An event at `offset` was handed to the trigger. Offsets are taken in increasing order, not
  // necessarily contiguous (compacted topics, transaction markers).
  void taken(std::int64_t offset);
  // The event at `offset` is finished (delivered, dead-lettered, or given up). Unknown offsets
  // are ignored.
  void finished(std::int64_t offset);

  // The offset to commit (the first unfinished one, or one past the last taken when all are
  // finished), or nothing when no event was taken yet.
  std::optional<std::int64_t> commit_offset() const;
  // Whether commit_offset() moved since the last mark_committed().
  bool has_uncommitted() const;
  void mark_committed() { committed_ = commit_offset(); }

  // Taken and not finished.
  std::int64_t in_flight() const { return in_flight_; }
  // The first offset not finished: where the backlog starts (for the depth); nothing when no
  // event was taken yet.
  std::optional<std::int64_t> first_unfinished() const { return commit_offset(); }

 private:
  struct Entry {
    std::int64_t offset;
    bool done;
  };
  std::deque<Entry> window_;          // taken, from the first unfinished one on
  std::optional<std::int64_t> next_;  // one past the last taken
  std::optional<std::int64_t> committed_;
  std::int64_t in_flight_ = 0;
};

struct TopicPartition {
  std::string topic;
  std::int32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
};

// All partitions assigned to one consumer.
class OffsetTracker {
 public:
  // Starts tracking `partitions` under a new generation; returns that generation.
  std::uint64_t assign(const std::vector<TopicPartition>& partitions);
  // Forgets `partitions` (revoked or lost).
  void revoke(const std::vector<TopicPartition>& partitions);

  // The generation the partition is tracked under, or nothing when it is not assigned.
  std::optional<std::uint64_t> generation(const TopicPartition& partition) const;
  // Records a taken event; false when the partition is not assigned.
  bool taken(const TopicPartition& partition, std::int64_t offset);
  // Records an outcome; ignored unless the partition is still assigned under `generation`.
  void finished(const TopicPartition& partition, std::uint64_t generation, std::int64_t offset);

  struct Commit {
    TopicPartition partition;
    std::int64_t offset;
  };
  // The offsets that moved since the last call (or of `only`, when given), marked committed.
  std::vector<Commit> take_commits();
  std::vector<Commit> take_commits(const std::vector<TopicPartition>& only);

  // Every assigned partition's offset to commit, moved or not (to repeat a commit that may
  // have failed: async commit errors are not reported back to the tracker).
  std::vector<Commit> current() const;

  std::int64_t in_flight() const;
  const std::map<TopicPartition, PartitionOffsets>& partitions() const { return partitions_; }

 private:
  std::map<TopicPartition, PartitionOffsets> partitions_;
  std::map<TopicPartition, std::uint64_t> generations_;
  std::uint64_t next_generation_ = 1;
};

}  // namespace triggerd::kafka
