#pragma once
// Cron schedules: when a `cron` trigger fires.
//
// Daylight saving time. The schedule is matched against local wall-clock time in the
// trigger's time zone. A wall-clock time that does not exist (the spring-forward gap) fires
// once, at the first instant after the gap; several matching times inside one gap collapse
// into that one fire. A wall-clock time that occurs twice (the fall-back overlap) fires only
// at its first occurrence. So a daily 02:30 in Europe/Berlin fires once on the last Sunday
// of March (at 03:00 CEST) and once on the last Sunday of October (at the first 02:30, CEST),
// and an every-minute schedule does not fire during the repeated hour.
// `@every` schedules ignore the time zone: they fire at whole multiples of the interval since
// the Unix epoch (1970-01-01T00:00:00Z), so every replica computes the same instants.
//
// Syntax. Five fields "minute hour day-of-month month day-of-week", or six with a seconds
// field first. Each field is `*` or a comma-separated list of items; an item is a value, a
// range `1-5`, or either of those or `*` followed by a step: `*/15`, `10-50/10`, and `5/15`
// (from 5 to the field's maximum). Months take names JAN-DEC and days of the week SUN-SAT,
// in any case; day-of-week 0 and 7 are both Sunday. Day rule of Vixie cron: when both
// day-of-month and day-of-week are restricted (neither is exactly `*`), a day matches when
// either matches; otherwise it must match both. Macros: @yearly (= @annually), @monthly,
// @weekly, @daily (= @midnight), @hourly, and `@every DURATION` with units h, m and s, also
// compound (`1m30s`), at least 1s.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "connectors/cron/time_zone.hpp"

namespace triggerd::cron {

class Schedule {
 public:
  // Parses `expression`. On error returns nullopt and, if `error` is not null, sets it to a
  // short message without position, e.g. "minute field: 61 is out of range 0-59". An
  // expression that can never fire ("0 0 30 2 *") is an error.
  static std::optional<Schedule> parse(std::string_view expression, std::string* error);

  // The first fire time strictly after `after`. Computed from the calendar alone, so a
  // caller that sleeps until each result and passes it back never drifts. Returns
  // sys_seconds::max() only if there is no fire time after `after` before the year 10000.
  std::chrono::sys_seconds next_after(std::chrono::sys_seconds after, const TimeZone& tz) const;

  // For `@every`: the interval; zero for calendar schedules.
  std::chrono::seconds interval() const { return interval_; }

 private:
  Schedule() = default;

  bool day_matches(std::chrono::year_month_day date) const;
  // The earliest local time at or after `from` that the fields match, if before year 10000.
  std::optional<std::chrono::local_seconds> next_match(std::chrono::local_seconds from) const;

  std::uint64_t seconds_ = 0;        // bit n: second n
  std::uint64_t minutes_ = 0;        // bit n: minute n
  std::uint32_t hours_ = 0;          // bit n: hour n
  std::uint32_t days_of_month_ = 0;  // bit n: day n (1-31)
  std::uint32_t months_ = 0;         // bit n: month n (1-12)
  std::uint32_t days_of_week_ = 0;   // bit n: weekday n (0 = Sunday - 6)
  bool any_day_of_month_ = true;     // the field was `*`
  bool any_day_of_week_ = true;      // the field was `*`
  std::chrono::seconds interval_{0};
};

}  // namespace triggerd::cron
