#pragma once
// The two time formats triggerd speaks: RFC 3339 for CloudEvents attributes (ce-time,
// ce-firstattempt, the time of an incoming CloudEvent) and the HTTP-date of a Retry-After
// header.
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace triggerd {

// Appends `time` in UTC as 2026-11-28T10:00:00Z, or 2026-11-28T10:00:00.123Z when the
// milliseconds are not zero. Finer precision is cut off (not rounded) so a time never moves into
// the next second.
void append_rfc3339(std::chrono::system_clock::time_point time, std::string& out);
std::string format_rfc3339(std::chrono::system_clock::time_point time);
// The same text written into a buffer of the caller's, for a hot path that must not allocate
// (a filter on `time` reads it for every event); the view points into `buffer`.
using Rfc3339Buffer = std::array<char, 24>;  // "2026-11-28T10:00:00.123Z"
std::string_view write_rfc3339(std::chrono::system_clock::time_point time, Rfc3339Buffer& buffer);

// The parsers and unix_millis_time give std::nullopt for a time the system clock cannot hold:
// it counts 64-bit nanoseconds, from 1677-09-21 to 2262-04-11. Both formats can spell later
// years (9999) and earlier ones (0000), and a sender may well write them.

// An RFC 3339 date-time ("2024-02-29T13:05:00.25+01:00"): the `time` of a CloudEvent.
// std::nullopt when `text` is not one. Fractions beyond nanoseconds are cut; a leap second
// (:60) counts as the last nanosecond of its minute, which the system clock can represent.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text);

// An HTTP-date (RFC 9110 section 5.6.7) in any of its three forms: IMF-fixdate
// ("Sun, 06 Nov 1994 08:49:37 GMT"), obsolete RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT") and
// asctime ("Sun Nov  6 08:49:37 1994"). nullopt when `text` is none of them.
std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view text);

// Milliseconds since the Unix epoch (a Kafka timestamp, a Redis stream id) as a system clock
// time.
std::optional<std::chrono::system_clock::time_point> unix_millis_time(std::int64_t millis);

}  // namespace triggerd
