#include "core/time_format.hpp"

#include <gtest/gtest.h>

#include <optional>

namespace triggerd {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

system_clock::time_point at(int y, unsigned m, unsigned d, hours h, minutes min, seconds s) {
  return sys_days{year{y} / month{m} / day{d}} + h + min + s;
}

TEST(Rfc3339, LeavesOutMillisecondsWhenTheyAreZero) {
  EXPECT_EQ(format_rfc3339(at(2026, 11, 28, 10h, 0min, 0s)), "2026-11-28T10:00:00Z");
}

TEST(Rfc3339, WritesMillisecondsWhenThereAreAny) {
  EXPECT_EQ(format_rfc3339(at(2026, 11, 28, 10h, 0min, 0s) + 123ms), "2026-11-28T10:00:00.123Z");
  EXPECT_EQ(format_rfc3339(at(2026, 1, 2, 3h, 4min, 5s) + 7ms), "2026-01-02T03:04:05.007Z");
}

TEST(Rfc3339, CutsFinerPrecisionInsteadOfRoundingIntoTheNextSecond) {
  EXPECT_EQ(format_rfc3339(at(2026, 12, 31, 23h, 59min, 59s) + 999999us),
            "2026-12-31T23:59:59.999Z");
  EXPECT_EQ(format_rfc3339(at(2026, 11, 28, 10h, 0min, 0s) + 400us), "2026-11-28T10:00:00Z");
}

TEST(Rfc3339, FormatsTheEpoch) {
  EXPECT_EQ(format_rfc3339(system_clock::time_point{}), "1970-01-01T00:00:00Z");
}

TEST(HttpDate, ParsesAllThreeFormsToTheSameInstant) {
  const auto expected = at(1994, 11, 6, 8h, 49min, 37s);
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), expected);
  EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), expected);
  EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994"), expected);
}

TEST(HttpDate, ReadsTwoDigitYearsBefore70AsThisCentury) {
  EXPECT_EQ(parse_http_date("Saturday, 28-Nov-26 10:00:00 GMT"), at(2026, 11, 28, 10h, 0min, 0s));
}

TEST(HttpDate, RefusesWhatIsNotAnHttpDate) {
  for (const char* text : {"", "5", "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Nov 1994 08:49:37 UTC",
                           "Sun, 06 nov 1994 08:49:37 GMT", "Sun, 6 Nov 1994 08:49:37 GMT",
                           "Sun, 30 Feb 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
                           "Sun, 06 Nov 1994 08:60:00 GMT",
                           "Sun, 06 Nov 1994 08:49:37 GMT trailing", "2026-11-28T10:00:00Z"}) {
    EXPECT_EQ(parse_http_date(text), std::nullopt) << "'" << text << "'";
  }
}

// Years the formats can spell but the system clock (64-bit nanoseconds) cannot hold: refused,
// not overflowed.
TEST(HttpDate, RefusesDatesBeyondTheSystemClock) {
  EXPECT_EQ(parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT"), std::nullopt);
  EXPECT_EQ(parse_http_date("Sat, 01 Jan 0000 00:00:00 GMT"), std::nullopt);
  EXPECT_EQ(parse_http_date("Fri, 11 Apr 2262 00:00:00 GMT"), at(2262, 4, 11, 0h, 0min, 0s));
}

TEST(Rfc3339, RefusesTimesBeyondTheSystemClock) {
  EXPECT_EQ(parse_rfc3339("9999-12-31T23:59:60Z"), std::nullopt);
  EXPECT_EQ(parse_rfc3339("4048-01-01T00:00:00+23:59"), std::nullopt);
  EXPECT_EQ(parse_rfc3339("0000-01-01T00:00:00Z"), std::nullopt);
  EXPECT_EQ(parse_rfc3339("1677-09-22T00:00:00.5Z"),
            at(1677, 9, 22, 0h, 0min, 0s) + milliseconds(500));
}

TEST(UnixMillisTime, HoldsWhatTheSystemClockCanAndNothingElse) {
  EXPECT_EQ(unix_millis_time(1700000000123),
            system_clock::time_point(milliseconds(1700000000123)));
  EXPECT_EQ(unix_millis_time(-1), system_clock::time_point(milliseconds(-1)));
  EXPECT_EQ(unix_millis_time(9223372036854), system_clock::time_point(milliseconds(9223372036854)));
  EXPECT_EQ(unix_millis_time(9223372036855), std::nullopt);
  EXPECT_EQ(unix_millis_time(INT64_MAX), std::nullopt);
  EXPECT_EQ(unix_millis_time(INT64_MIN), std::nullopt);
}

struct TimeCase {
  const char* text;
  std::optional<system_clock::time_point> expected;
};

TEST(Rfc3339, ParsesTimestampsAndRefusesTheRest) {
  const TimeCase cases[] = {
      {"2018-04-05T17:31:00Z", at(2018, 4, 5, 17h, 31min, 0s)},
      {"2018-04-05t17:31:00z", at(2018, 4, 5, 17h, 31min, 0s)},
      {"2018-04-05T17:31:00.123456789Z", at(2018, 4, 5, 17h, 31min, 0s) + nanoseconds(123456789)},
      {"2018-04-05T17:31:00.1234567891234Z", at(2018, 4, 5, 17h, 31min, 0s) + nanoseconds(123456789)},
      {"2018-04-05T17:31:00-07:30", at(2018, 4, 6, 1h, 1min, 0s)},
      {"2018-04-05T00:10:00+01:00", at(2018, 4, 4, 23h, 10min, 0s)},
      {"2024-02-29T00:00:00Z", at(2024, 2, 29, 0h, 0min, 0s)},
      {"1970-01-01T00:00:00Z", system_clock::time_point{}},
      {"2016-12-31T23:59:60Z", at(2016, 12, 31, 23h, 59min, 59s) + nanoseconds(999999999)},
      {"2023-02-29T00:00:00Z", std::nullopt},
      {"2018-13-05T17:31:00Z", std::nullopt},
      {"2018-04-05T24:00:00Z", std::nullopt},
      {"2018-04-05T17:60:00Z", std::nullopt},
      {"2018-04-05T17:31:00", std::nullopt},
      {"2018-04-05 17:31:00Z", std::nullopt},
      {"2018-04-05T17:31Z", std::nullopt},
      {"2018-04-05T17:31:00.Z", std::nullopt},
      {"2018-04-05T17:31:00+0100", std::nullopt},
      {"2018-04-05T17:31:00Zjunk", std::nullopt},
      {"18-04-05T17:31:00Z", std::nullopt},
      {"", std::nullopt},
  };
  for (const TimeCase& c : cases) EXPECT_EQ(parse_rfc3339(c.text), c.expected) << c.text;
}

}  // namespace
}  // namespace triggerd
