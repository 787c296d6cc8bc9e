#pragma once
// How a Redis stream entry or list item becomes an Event (SPEC section 3), and the small
// helpers both Redis sources share.
#include <chrono>
#include <string>
#include <string_view>

#include "core/event.hpp"
#include "connectors/redis/redis_client.hpp"

namespace triggerd::redis {

// `fields` is the entry's flat [field, value, ...] array as XREADGROUP returns it. A single
// field `data` is the body as it is (application/octet-stream); anything else becomes a JSON
// object of the fields (application/json). ce-time is the time in the entry id.
Event make_stream_event(std::string_view connection, std::string_view stream, const std::string& id,
                        const Reply& fields);

// A list item: the item is the body; the id is generated (an item has no identity).
Event make_list_event(std::string_view connection, std::string_view list, std::string item);

// The milliseconds part of a stream entry id ("1700000000000-0"); the system clock's latest
// time for ids beyond it (after the year 2262: XADD takes any id the caller gives).
std::chrono::system_clock::time_point stream_id_time(std::string_view id);

}  // namespace triggerd::redis
