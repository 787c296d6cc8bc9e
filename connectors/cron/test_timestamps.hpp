#pragma once
// Instants written as the timestamps in a log, so that the cron tests' tables read like one.
// In seconds, not through core/time_format.hpp: schedules reach the year 9999, far past what a
// system_clock time point (nanoseconds) holds.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <string>

namespace triggerd::cron::test {

// "2025-03-30T01:00:00Z" -> seconds since 1970-01-01T00:00:00 on the same clock; the Z may be
// left out.
inline std::chrono::seconds since_epoch(const std::string& iso) {
  std::array<int, 6> f{};  // year, month, day, hour, minute, second
  if (std::sscanf(iso.c_str(), "%d-%d-%dT%d:%d:%d", &f[0], &f[1], &f[2], &f[3], &f[4], &f[5]) !=
      6) {
    ADD_FAILURE() << "bad timestamp in test: " << iso;
  }
  using namespace std::chrono;
  const sys_days date{year{f[0]} / month{static_cast<unsigned>(f[1])} /
                      day{static_cast<unsigned>(f[2])}};
  return date.time_since_epoch() + hours{f[3]} + minutes{f[4]} + seconds{f[5]};
}

inline std::chrono::sys_seconds at(const std::string& iso) {
  return std::chrono::sys_seconds{since_epoch(iso)};
}

// The same digits as a wall-clock time, in no zone.
inline std::chrono::local_seconds wall(const std::string& iso) {
  return std::chrono::local_seconds{since_epoch(iso)};
}

// The instant as at() reads it: "2025-03-30T01:00:00Z".
inline std::string iso(std::chrono::sys_seconds t) {
  using namespace std::chrono;
  const auto day = floor<days>(t);
  const year_month_day date{day};
  const hh_mm_ss time{t - day};
  std::array<char, 32> buffer{};
  std::snprintf(buffer.data(), buffer.size(), "%04d-%02u-%02uT%02d:%02d:%02dZ",
                static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                static_cast<unsigned>(date.day()), static_cast<int>(time.hours().count()),
                static_cast<int>(time.minutes().count()), static_cast<int>(time.seconds().count()));
  return buffer.data();
}

}  // namespace triggerd::cron::test
