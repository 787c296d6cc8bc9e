#pragma once
// What a commit says beyond its offset. Kafka stores one offset per partition: the first event
// not yet finished. With `ordering: none` or `key`, many events after it may be finished
// already; a crash would deliver them all again, however many. So each commit also carries,
// in the offset's metadata string, the finished offsets past the committed one, as runs, and
// a restarted consumer skips them. A crash then repeats only what was in flight.
//
// The text: "td1:" then comma-separated runs "GAP.LENGTH" in base 36, where GAP is the
// distance from the end of the previous run (the first: from the committed offset) and
// LENGTH the run's count of finished offsets. Example: committed 100, finished 103-105 and
// 110: "td1:3.3,4.1". Another client's metadata (not starting "td1:") means no runs.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace triggerd::kafka {

// Finished offsets [begin, end).
struct OffsetRun {
  std::int64_t begin = 0;
  std::int64_t end = 0;
  bool operator==(const OffsetRun&) const = default;
};

// Kafka brokers refuse metadata longer than offset.metadata.max.bytes (4096 by default).
inline constexpr std::size_t kMaxCommitMetadata = 4000;

// `runs` sorted, disjoint, all past `committed`. Runs that do not fit in kMaxCommitMetadata
// are left out (those offsets are delivered again after a crash: never lost); `encoded_runs`,
// when given, gets how many runs made it.
std::string encode_commit_metadata(std::int64_t committed, const std::vector<OffsetRun>& runs,
                                   std::size_t* encoded_runs = nullptr);

// The runs in `metadata` committed with `committed`; empty for metadata that is not ours or
// is malformed (then nothing is skipped: at least once holds either way).
std::vector<OffsetRun> decode_commit_metadata(std::int64_t committed, std::string_view metadata);

}  // namespace triggerd::kafka
