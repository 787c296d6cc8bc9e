#include "connectors/kafka/kafka_commit_metadata.hpp"

#include <algorithm>
#include <charconv>

namespace triggerd::kafka {
namespace {

constexpr std::string_view kPrefix = "td1:";

void append_base36(std::string& out, std::int64_t value) {
  char digits[16];
  const auto result = std::to_chars(digits, digits + sizeof digits, value, 36);
  out.append(digits, result.ptr);
}

// Reads a positive base-36 number up to `stop` (or the end); advances `text`.
bool read_base36(std::string_view& text, char stop, std::int64_t& value) {
  const std::size_t end = std::min(text.find(stop), text.size());
  if (end == 0) return false;
  const auto result = std::from_chars(text.data(), text.data() + end, value, 36);
  if (result.ec != std::errc() || result.ptr != text.data() + end || value < 0) return false;
  text.remove_prefix(end);
  return true;
}

}  // namespace

std::string encode_commit_metadata(std::int64_t committed, const std::vector<OffsetRun>& runs,
                                   std::size_t* encoded_runs) {
  std::string out(kPrefix);
  std::int64_t previous_end = committed;
  std::size_t count = 0;
  for (const OffsetRun& run : runs) {
    std::string item;
    if (count > 0) item += ',';
    append_base36(item, run.begin - previous_end);
    item += '.';
    append_base36(item, run.end - run.begin);
    if (out.size() + item.size() > kMaxCommitMetadata) break;
    out += item;
    previous_end = run.end;
    ++count;
  }
  if (encoded_runs != nullptr) *encoded_runs = count;
  return count == 0 ? std::string() : out;
}

std::vector<OffsetRun> decode_commit_metadata(std::int64_t committed,
                                              std::string_view metadata) {
  if (!metadata.starts_with(kPrefix)) return {};
  metadata.remove_prefix(kPrefix.size());
  std::vector<OffsetRun> runs;
  std::int64_t previous_end = committed;
  while (!metadata.empty()) {
    std::int64_t gap = 0;
    std::int64_t length = 0;
    if (!read_base36(metadata, '.', gap) || metadata.empty()) return {};
    metadata.remove_prefix(1);
    if (!read_base36(metadata, ',', length) || length == 0) return {};
    if (!metadata.empty()) metadata.remove_prefix(1);
    // A gap of 0 cannot be: the committed offset itself is unfinished, and touching runs
    // would have been written as one.
    if (gap == 0) return {};
    OffsetRun run{previous_end + gap, previous_end + gap + length};
    runs.push_back(run);
    previous_end = run.end;
  }
  return runs;
}

}  // namespace triggerd::kafka
