#include "connectors/redis/redis_stream_backlog.hpp"

#include <algorithm>
#include <charconv>
#include <utility>

namespace triggerd::redis {

namespace {

std::pair<std::uint64_t, std::uint64_t> parse_id(std::string_view id) {
  std::uint64_t ms = 0;
  std::uint64_t seq = 0;
  const auto dash = id.find('-');
  const std::string_view ms_part = id.substr(0, dash);
  if (std::from_chars(ms_part.data(), ms_part.data() + ms_part.size(), ms).ec != std::errc()) {
    return {0, 0};
  }
  if (dash != std::string_view::npos) {
    const std::string_view seq_part = id.substr(dash + 1);
    if (std::from_chars(seq_part.data(), seq_part.data() + seq_part.size(), seq).ec !=
        std::errc()) {
      return {0, 0};
    }
  }
  return {ms, seq};
}

std::optional<std::int64_t> integer_of(const Reply& value) {
  if (value.type != Reply::Type::kInteger) return std::nullopt;
  return value.integer;
}

// The id of an entry as XINFO STREAM shows it ([id, [field, value, ...]]), or "" (nil: empty).
std::string entry_id(const Reply& entry) {
  if (entry.type != Reply::Type::kArray || entry.elements.empty()) return "";
  return entry.elements[0].str;
}

}  // namespace

int compare_stream_ids(std::string_view a, std::string_view b) {
  const auto left = parse_id(a);
  const auto right = parse_id(b);
  if (left == right) return 0;
  return left < right ? -1 : 1;
}

std::optional<StreamGroupInfo> find_stream_group(const Reply& xinfo_groups,
                                                 std::string_view group) {
  if (xinfo_groups.type != Reply::Type::kArray) return std::nullopt;
  for (const Reply& entry : xinfo_groups.elements) {
    // A flat [name, value, ...] list per group.
    const auto& fields = entry.elements;
    bool ours = false;
    StreamGroupInfo info;
    for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
      const std::string& name = fields[i].str;
      const Reply& value = fields[i + 1];
      if (name == "name") {
        ours = value.str == group;
      } else if (name == "pending") {
        info.pending = integer_of(value).value_or(0);
      } else if (name == "lag") {
        info.lag = integer_of(value);
      } else if (name == "last-delivered-id") {
        info.last_delivered_id = value.str;
      } else if (name == "entries-read") {
        info.entries_read = integer_of(value);
      }
    }
    if (ours) return info;
  }
  return std::nullopt;
}

std::optional<StreamInfo> read_stream_info(const Reply& xinfo_stream) {
  if (xinfo_stream.type != Reply::Type::kArray) return std::nullopt;
  StreamInfo info;
  bool has_length = false;
  const auto& fields = xinfo_stream.elements;
  for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
    const std::string& name = fields[i].str;
    const Reply& value = fields[i + 1];
    if (name == "length") {
      has_length = value.type == Reply::Type::kInteger;
      info.length = value.integer;
    } else if (name == "entries-added") {
      info.entries_added = integer_of(value).value_or(0);
    } else if (name == "first-entry") {
      info.first_id = entry_id(value);
    } else if (name == "last-entry") {
      info.last_id = entry_id(value);
    }
  }
  if (!has_length) return std::nullopt;
  return info;
}

std::int64_t unread_bound(const StreamGroupInfo& group, const StreamInfo& stream) {
  if (stream.length <= 0 || stream.last_id.empty()) return 0;
  // Past the last entry: nothing left to read. Before the first: all of it.
  if (compare_stream_ids(group.last_delivered_id, stream.last_id) >= 0) return 0;
  if (compare_stream_ids(group.last_delivered_id, stream.first_id) < 0) return stream.length;
  // Somewhere in between: what was added less what the group read, which still counts the
  // entries deleted after its position; the stream's length when the read counter is unknown.
  if (group.entries_read) {
    return std::clamp<std::int64_t>(stream.entries_added - *group.entries_read, 0, stream.length);
  }
  return stream.length;
}

}  // namespace triggerd::redis
