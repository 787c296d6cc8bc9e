#pragma once
// At-least-once bookkeeping of the Kafka source, kept apart from librdkafka so that it can be
// tested alone. Per assigned partition it records which offsets were handed to the trigger
// and which of them are finished; what may be committed is only the contiguous finished
// prefix (the offset of the first unfinished event), so a crash redelivers every event whose
// outcome was not yet known, and nothing after a gap is skipped.
//
// Finished offsets past the first unfinished one travel with each commit as its metadata
// (kafka_commit_metadata.hpp), and a new owner skips them; events finished since the last
// confirmed commit are counted (unconfirmed()), so that the source can keep what a crash
// would deliver again (in flight + unconfirmed) within max_inflight.
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

#include "connectors/kafka/kafka_commit_metadata.hpp"

namespace triggerd::kafka {

// What to do with a taken message.
enum class Take {
  deliver,       // hand it to the trigger
  skip,          // finished already (a previous owner's commit says so, or taken before)
  not_assigned,  // its partition is not (or no longer) ours
};

class PartitionOffsets {
 public:
  // Offsets finished by a previous owner, from the committed metadata: taken() skips them.
  // Call before anything is taken.
  void preset_finished(const std::vector<OffsetRun>& runs);
  // A message at `offset` was fetched. Offsets come in increasing order, not necessarily
  // contiguous (compacted topics, transaction markers).
  Take taken(std::int64_t offset);
  // The event at `offset` is finished (delivered, dead-lettered, or given up). Unknown offsets
  // are ignored.
  void finished(std::int64_t offset);

  // The offset to commit (the first unfinished one, or one past the last taken when all are
  // finished), or nothing when no event was taken yet.
  std::optional<std::int64_t> commit_offset() const;
  // The finished offsets past commit_offset(): taken ones and preset ones not reached yet.
  std::vector<OffsetRun> finished_ahead() const;
  // Whether there is anything new to commit since the last commit_sent().
  bool has_uncommitted() const;

  // Commit bookkeeping. Events finished since their last confirmed commit are unconfirmed: a
  // crash now would deliver them again.
  void commit_sent();
  void commit_confirmed() { sending_ = 0; }
  void commit_failed();
  std::int64_t unconfirmed() const { return unsent_ + sending_; }

  // Taken and not finished.
  std::int64_t in_flight() const { return in_flight_; }
  // The first offset not finished: where the backlog starts (for the depth); nothing when no
  // event was taken yet.
  std::optional<std::int64_t> first_unfinished() const { return commit_offset(); }
  // The group's committed offset as read when the partition was assigned (nothing: the group
  // has none, or it could not be read).
  void set_group_committed(std::optional<std::int64_t> offset) { group_committed_ = offset; }
  // Where fetching stands: one past the last offset taken, else the group's committed offset
  // (nothing: neither is known).
  std::optional<std::int64_t> fetch_position() const { return next_ ? next_ : group_committed_; }
  // Where the backlog starts as far as this member knows: the first unfinished offset once
  // something was taken, else the group's committed offset.
  std::optional<std::int64_t> backlog_start() const {
    const std::optional<std::int64_t> taken = commit_offset();
    return taken ? taken : group_committed_;
  }

 private:
  struct Entry {
    std::int64_t offset;
    bool done;
  };
  std::deque<Entry> window_;          // taken, from the first unfinished one on
  std::deque<OffsetRun> preset_;      // finished by a previous owner, not taken yet
  std::optional<std::int64_t> next_;  // one past the last taken
  std::optional<std::int64_t> committed_;
  std::optional<std::int64_t> group_committed_;
  std::int64_t in_flight_ = 0;
  std::int64_t unsent_ = 0;   // finished since the last commit_sent()
  std::int64_t sending_ = 0;  // finished, in the commit awaiting its result
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
  void preset_finished(const TopicPartition& partition, const std::vector<OffsetRun>& runs);
  void set_group_committed(const TopicPartition& partition, std::optional<std::int64_t> offset);
  Take taken(const TopicPartition& partition, std::int64_t offset);
  // Records an outcome; ignored unless the partition is still assigned under `generation`.
  void finished(const TopicPartition& partition, std::uint64_t generation, std::int64_t offset);

  struct Commit {
    TopicPartition partition;
    std::int64_t offset;
    std::string metadata;  // the finished offsets past `offset` (kafka_commit_metadata.hpp)
  };
  // What changed since the last call (of every partition, or of `only`), marked as sent.
  std::vector<Commit> take_commits();
  std::vector<Commit> take_commits(const std::vector<TopicPartition>& only);
  // The result of the commit sent last (one at a time).
  void commit_confirmed();
  void commit_failed();

  // Every assigned partition's commit, changed or not (to repeat one that may have been lost
  // with a coordinator that moved), marked as sent like take_commits().
  std::vector<Commit> take_all_commits();

  std::int64_t in_flight() const;
  // Finished events not yet in a confirmed commit, over all partitions.
  std::int64_t unconfirmed() const;
  const std::map<TopicPartition, PartitionOffsets>& partitions() const { return partitions_; }

 private:
  std::map<TopicPartition, PartitionOffsets> partitions_;
  std::map<TopicPartition, std::uint64_t> generations_;
  std::uint64_t next_generation_ = 1;
};

}  // namespace triggerd::kafka
