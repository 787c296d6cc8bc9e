#include "connectors/kafka/kafka_offsets.hpp"

namespace triggerd::kafka {

void PartitionOffsets::taken(std::int64_t offset) {
  // Offsets go up; an older one would be a redelivery after a seek, which this source never
  // does, so it is not tracked twice.
  if (next_ && offset < *next_) return;
  window_.push_back(Entry{offset, false});
  next_ = offset + 1;
  ++in_flight_;
}

void PartitionOffsets::finished(std::int64_t offset) {
  if (window_.empty() || offset < window_.front().offset || offset > window_.back().offset) {
    return;
  }
  // Most outcomes arrive roughly in order: search from the front.
  for (Entry& entry : window_) {
    if (entry.offset == offset) {
      if (!entry.done) {
        entry.done = true;
        --in_flight_;
      }
      break;
    }
    if (entry.offset > offset) return;
  }
  while (!window_.empty() && window_.front().done) window_.pop_front();
}

std::optional<std::int64_t> PartitionOffsets::commit_offset() const {
  if (!window_.empty()) return window_.front().offset;
  return next_;
}

bool PartitionOffsets::has_uncommitted() const {
  const std::optional<std::int64_t> offset = commit_offset();
  return offset.has_value() && offset != committed_;
}

std::uint64_t OffsetTracker::assign(const std::vector<TopicPartition>& partitions) {
  const std::uint64_t generation = next_generation_++;
  for (const TopicPartition& partition : partitions) {
    partitions_[partition] = PartitionOffsets{};
    generations_[partition] = generation;
  }
  return generation;
}

void OffsetTracker::revoke(const std::vector<TopicPartition>& partitions) {
  for (const TopicPartition& partition : partitions) {
    partitions_.erase(partition);
    generations_.erase(partition);
  }
}

std::optional<std::uint64_t> OffsetTracker::generation(const TopicPartition& partition) const {
  const auto it = generations_.find(partition);
  if (it == generations_.end()) return std::nullopt;
  return it->second;
}

bool OffsetTracker::taken(const TopicPartition& partition, std::int64_t offset) {
  const auto it = partitions_.find(partition);
  if (it == partitions_.end()) return false;
  it->second.taken(offset);
  return true;
}

void OffsetTracker::finished(const TopicPartition& partition, std::uint64_t generation,
                             std::int64_t offset) {
  const auto current = generations_.find(partition);
  if (current == generations_.end() || current->second != generation) return;
  partitions_.at(partition).finished(offset);
}

std::vector<OffsetTracker::Commit> OffsetTracker::take_commits() {
  std::vector<Commit> commits;
  for (auto& [partition, offsets] : partitions_) {
    if (!offsets.has_uncommitted()) continue;
    commits.push_back(Commit{partition, *offsets.commit_offset()});
    offsets.mark_committed();
  }
  return commits;
}

std::vector<OffsetTracker::Commit> OffsetTracker::take_commits(
    const std::vector<TopicPartition>& only) {
  std::vector<Commit> commits;
  for (const TopicPartition& partition : only) {
    const auto it = partitions_.find(partition);
    if (it == partitions_.end() || !it->second.has_uncommitted()) continue;
    commits.push_back(Commit{partition, *it->second.commit_offset()});
    it->second.mark_committed();
  }
  return commits;
}

std::vector<OffsetTracker::Commit> OffsetTracker::current() const {
  std::vector<Commit> commits;
  for (const auto& [partition, offsets] : partitions_) {
    if (const auto offset = offsets.commit_offset()) commits.push_back(Commit{partition, *offset});
  }
  return commits;
}

std::int64_t OffsetTracker::in_flight() const {
  std::int64_t total = 0;
  for (const auto& [partition, offsets] : partitions_) total += offsets.in_flight();
  return total;
}

}  // namespace triggerd::kafka
