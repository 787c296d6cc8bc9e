#pragma once
// What the redis-stream source reads of its consumer group to tell the group's backlog (the
// entries not yet read, the `lag`, and those read and not yet acknowledged, `pending`), kept
// apart from the connection so that it can be tested alone.
//
// Redis 7 answers the lag as nil when it cannot count it cheaply: entries after the group's
// last-delivered-id were deleted (XDEL), or the group was moved with XGROUP SETID and no
// ENTRIESREAD. The source then counts unread_bound(): exact when the group has read nothing
// of what the stream holds or everything of it, otherwise an upper bound (deleted entries
// still count) that becomes exact again once the group has read past the deleted entries. An
// autoscaler that sees a little too much scales a little too far; one that sees too little may
// scale to zero with work waiting.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "connectors/redis/redis_client.hpp"

namespace triggerd::redis {

// One group of `XINFO GROUPS STREAM`.
struct StreamGroupInfo {
  std::int64_t pending = 0;                  // read by a consumer, not yet acknowledged
  std::optional<std::int64_t> lag;           // not yet read by any consumer; nil: Redis cannot tell
  std::string last_delivered_id;             // the last entry the group read
  std::optional<std::int64_t> entries_read;  // the group's read counter; nil: unknown
};

// The group named `group` in an `XINFO GROUPS` reply; nothing when it is not there or the reply
// is not one.
std::optional<StreamGroupInfo> find_stream_group(const Reply& xinfo_groups, std::string_view group);

// What unread_bound() needs of `XINFO STREAM STREAM`.
struct StreamInfo {
  std::int64_t length = 0;
  std::int64_t entries_added = 0;  // ever added, deleted ones included
  std::string first_id;            // of the first entry; empty when the stream is empty
  std::string last_id;             // of the last entry; empty when the stream is empty
};

std::optional<StreamInfo> read_stream_info(const Reply& xinfo_stream);

// Entries of the stream the group has not read yet, when Redis answers the lag as nil.
std::int64_t unread_bound(const StreamGroupInfo& group, const StreamInfo& stream);

// Compares stream ids ("MS-SEQ", or "MS"): negative, zero or positive like strcmp. Ids that do
// not parse compare as 0-0.
int compare_stream_ids(std::string_view a, std::string_view b);

}  // namespace triggerd::redis
