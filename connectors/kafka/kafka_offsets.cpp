#include "connectors/kafka/kafka_offsets.hpp"

namespace triggerd::kafka {

void PartitionOffsets::preset_finished(const std::vector<OffsetRun>& runs) {
  preset_.assign(runs.begin(), runs.end());
}

Take PartitionOffsets::taken(std::int64_t offset) {
  // Offsets go up; an older one would be a refetch after a seek, which this source never
  // does: it is not delivered twice.
  if (next_ && offset < *next_) return Take::skip;
  while (!preset_.empty() && preset_.front().end <= offset) preset_.pop_front();
  const bool done = !preset_.empty() && preset_.front().begin <= offset;
  next_ = offset + 1;
  if (done) {
    // Finished by the previous owner: it stays in the window only while an unfinished event
    // precedes it, so that the next commit's metadata still names it.
    if (!window_.empty()) window_.push_back(Entry{offset, true});
    return Take::skip;
  }
  window_.push_back(Entry{offset, false});
  ++in_flight_;
  return Take::deliver;
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
        ++unsent_;
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

std::vector<OffsetRun> PartitionOffsets::finished_ahead() const {
  std::vector<OffsetRun> runs;
  // Consecutive finished entries form one run even across missing offsets: those do not exist
  // (compaction, transaction markers), so nobody will fetch them.
  bool in_run = false;
  for (const Entry& entry : window_) {
    if (!entry.done) {
      in_run = false;
      continue;
    }
    if (in_run) {
      runs.back().end = entry.offset + 1;
    } else {
      runs.push_back(OffsetRun{entry.offset, entry.offset + 1});
      in_run = true;
    }
  }
  for (const OffsetRun& preset : preset_) {
    const std::int64_t begin = next_ ? std::max(preset.begin, *next_) : preset.begin;
    if (begin >= preset.end) continue;
    if (!runs.empty() && runs.back().end >= begin) {
      runs.back().end = std::max(runs.back().end, preset.end);
    } else {
      runs.push_back(OffsetRun{begin, preset.end});
    }
  }
  return runs;
}

bool PartitionOffsets::has_uncommitted() const {
  const std::optional<std::int64_t> offset = commit_offset();
  return offset.has_value() && (offset != committed_ || unsent_ > 0);
}

void PartitionOffsets::commit_sent() {
  committed_ = commit_offset();
  sending_ += unsent_;
  unsent_ = 0;
}

void PartitionOffsets::commit_failed() {
  unsent_ += sending_;
  sending_ = 0;
  committed_.reset();  // sent again with the next commit
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

void OffsetTracker::preset_finished(const TopicPartition& partition,
                                    const std::vector<OffsetRun>& runs) {
  const auto it = partitions_.find(partition);
  if (it != partitions_.end()) it->second.preset_finished(runs);
}

void OffsetTracker::set_group_committed(const TopicPartition& partition,
                                        std::optional<std::int64_t> offset) {
  const auto it = partitions_.find(partition);
  if (it != partitions_.end()) it->second.set_group_committed(offset);
}

Take OffsetTracker::taken(const TopicPartition& partition, std::int64_t offset) {
  const auto it = partitions_.find(partition);
  if (it == partitions_.end()) return Take::not_assigned;
  return it->second.taken(offset);
}

void OffsetTracker::finished(const TopicPartition& partition, std::uint64_t generation,
                             std::int64_t offset) {
  const auto current = generations_.find(partition);
  if (current == generations_.end() || current->second != generation) return;
  partitions_.at(partition).finished(offset);
}

namespace {

OffsetTracker::Commit make_commit(const TopicPartition& partition,
                                  const PartitionOffsets& offsets) {
  const std::int64_t offset = *offsets.commit_offset();
  return OffsetTracker::Commit{partition, offset,
                               encode_commit_metadata(offset, offsets.finished_ahead())};
}

}  // namespace

std::vector<OffsetTracker::Commit> OffsetTracker::take_commits() {
  std::vector<Commit> commits;
  for (auto& [partition, offsets] : partitions_) {
    if (!offsets.has_uncommitted()) continue;
    commits.push_back(make_commit(partition, offsets));
    offsets.commit_sent();
  }
  return commits;
}

std::vector<OffsetTracker::Commit> OffsetTracker::take_commits(
    const std::vector<TopicPartition>& only) {
  std::vector<Commit> commits;
  for (const TopicPartition& partition : only) {
    const auto it = partitions_.find(partition);
    if (it == partitions_.end() || !it->second.has_uncommitted()) continue;
    commits.push_back(make_commit(partition, it->second));
    it->second.commit_sent();
  }
  return commits;
}

void OffsetTracker::commit_confirmed() {
  for (auto& [partition, offsets] : partitions_) offsets.commit_confirmed();
}

void OffsetTracker::commit_failed() {
  for (auto& [partition, offsets] : partitions_) offsets.commit_failed();
}

std::vector<OffsetTracker::Commit> OffsetTracker::take_all_commits() {
  std::vector<Commit> commits;
  for (auto& [partition, offsets] : partitions_) {
    if (!offsets.commit_offset()) continue;
    commits.push_back(make_commit(partition, offsets));
    offsets.commit_sent();
  }
  return commits;
}

std::int64_t OffsetTracker::in_flight() const {
  std::int64_t total = 0;
  for (const auto& [partition, offsets] : partitions_) total += offsets.in_flight();
  return total;
}

std::int64_t OffsetTracker::unconfirmed() const {
  std::int64_t total = 0;
  for (const auto& [partition, offsets] : partitions_) total += offsets.unconfirmed();
  return total;
}

}  // namespace triggerd::kafka
