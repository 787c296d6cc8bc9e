#pragma once
// IANA time zones read from the system tz database (TZif files, RFC 8536).
//
// g++ 12's libstdc++ has no std::chrono::tzdb, and localtime_r needs setenv("TZ"), which is
// process-global and not thread-safe; so each cron trigger loads its zone once into a
// TimeZone and asks it directly. A TimeZone is immutable after load: share it freely
// between threads, copy it cheaply enough (a few KiB).
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace triggerd::cron {

// Where a local wall-clock time falls on the UTC time line.
struct LocalInstants {
  // 1 normally; 0 in a spring-forward gap (the time is skipped); 2 in a fall-back overlap
  // (the time occurs twice).
  int count = 0;
  std::chrono::sys_seconds first{};   // count >= 1: the (earlier) instant
  std::chrono::sys_seconds second{};  // count == 2: the later instant
  // count == 0: the first instant after the gap, i.e. the transition where clocks jumped.
  std::chrono::sys_seconds gap_end{};
};

class TimeZone {
 public:
  // Loads `name` (e.g. "Europe/Berlin") from $TZDIR, else /usr/share/zoneinfo. "UTC" and
  // "Etc/UTC" are built in and need no files. On failure returns nullopt and, if `error` is
  // not null, sets it to a short message such as: unknown time zone "Mars/Base".
  static std::optional<TimeZone> load(std::string_view name, std::string* error);

  // Builds a zone from the bytes of a TZif file (versions 1 to 4). For tests and for
  // callers that ship their own data.
  static std::optional<TimeZone> from_tzif(std::string_view name, std::string_view data,
                                           std::string* error);

  static TimeZone utc();

  const std::string& name() const { return name_; }

  // Offset from UTC (local = UTC + offset) in effect at `instant`.
  std::chrono::seconds offset_at(std::chrono::sys_seconds instant) const;

  std::chrono::local_seconds to_local(std::chrono::sys_seconds instant) const;

  // The instants at which local clocks in this zone show `local`.
  LocalInstants from_local(std::chrono::local_seconds local) const;

 private:
  // A stretch of the time line with one UTC offset: [begin, end).
  struct Segment {
    std::int64_t begin;
    std::int64_t end;
    std::int32_t offset;
  };

  // When a POSIX TZ rule ("M3.5.0/3", "J60", "59") switches, in a given year.
  struct PosixDate {
    enum class Kind { kJulianNoLeap, kDayOfYear, kMonthWeekDay };
    Kind kind = Kind::kMonthWeekDay;
    int day = 0;                   // kJulianNoLeap: 1-365; kDayOfYear: 0-365
    int month = 0;                 // kMonthWeekDay: 1-12
    int week = 0;                  // kMonthWeekDay: 1-5, 5 meaning the last
    int weekday = 0;               // kMonthWeekDay: 0 (Sunday) - 6
    std::int32_t time = 2 * 3600;  // local time of day of the switch, may be < 0 or > 24h
  };

  // The TZif footer: the rule for instants after the last listed transition, e.g.
  // "CET-1CEST,M3.5.0,M10.5.0/3". Offsets are seconds east of UTC (POSIX counts west).
  struct PosixRule {
    std::int32_t std_offset = 0;
    bool has_dst = false;
    std::int32_t dst_offset = 0;
    PosixDate dst_start;
    PosixDate dst_end;
  };

  struct RuleTransition {
    std::int64_t at;
    std::int32_t offset_after;
  };

  TimeZone() = default;

  Segment segment_at(std::int64_t instant) const;
  Segment rule_segment_at(std::int64_t instant, std::int64_t floor) const;
  static std::optional<PosixRule> parse_posix_rule(std::string_view text);
  static std::int64_t rule_transition(const PosixDate& date, int year, std::int32_t offset);

  std::string name_;
  std::vector<std::int64_t> transitions_;    // ascending UTC seconds
  std::vector<std::int32_t> offsets_after_;  // offset from transitions_[i] on
  std::int32_t initial_offset_ = 0;          // before the first transition
  std::optional<PosixRule> rule_;            // after the last transition
};

}  // namespace triggerd::cron
