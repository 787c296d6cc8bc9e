#include "connectors/kafka/kafka_backlog.hpp"

#include <algorithm>

namespace triggerd::kafka {

std::int64_t group_backlog(const WatermarkMap& watermarks, const CommittedMap& committed,
                           config::KafkaStart start) {
  std::int64_t total = 0;
  for (const auto& [partition, marks] : watermarks) {
    const auto found = committed.find(partition);
    const bool in_log =
        found != committed.end() && found->second >= marks.low && found->second <= marks.high;
    const std::int64_t next = in_log                                ? found->second
                              : start == config::KafkaStart::latest ? marks.high
                                                                    : marks.low;
    total += std::max<std::int64_t>(0, marks.high - next);
  }
  return total;
}

std::optional<std::int64_t> member_depth(const std::vector<AssignedPartition>& assigned,
                                         const WatermarkMap& watermarks, std::int64_t in_flight,
                                         config::KafkaStart start) {
  std::int64_t depth = 0;
  for (const AssignedPartition& entry : assigned) {
    const auto found = watermarks.find(entry.partition);
    if (found == watermarks.end()) return std::nullopt;
    const Watermarks& marks = found->second;
    // A restart with nothing left counts 0 (the committed offset), a group without one counts
    // from where `start` puts it.
    const std::int64_t begin = entry.backlog_start                   ? *entry.backlog_start
                               : start == config::KafkaStart::latest ? marks.high
                                                                     : marks.low;
    depth += std::max<std::int64_t>(0, marks.high - std::max(begin, marks.low));
  }
  return std::max<std::int64_t>(0, depth - in_flight);
}

}  // namespace triggerd::kafka
