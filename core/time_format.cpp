#include "core/time_format.hpp"

#include <array>
#include <cstdint>

#include "core/text.hpp"

namespace triggerd {
namespace {

// Reads a time stamp piece by piece; every step either consumes what it expects or fails.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}

  bool done() const { return text_.empty(); }

  bool literal(std::string_view expected) {
    if (!text_.starts_with(expected)) return false;
    text_.remove_prefix(expected.size());
    return true;
  }

  // One character, any of `allowed`.
  bool one_of(std::string_view allowed) {
    if (text_.empty() || allowed.find(text_.front()) == std::string_view::npos) return false;
    text_.remove_prefix(1);
    return true;
  }

  // The longest run of characters that pass `accept`, possibly empty.
  std::string_view run(bool (*accept)(char)) {
    std::size_t n = 0;
    while (n < text_.size() && accept(text_[n])) ++n;
    std::string_view taken = text_.substr(0, n);
    text_.remove_prefix(n);
    return taken;
  }

  // Between `min` and `max` decimal digits; -1 when there are fewer than `min`.
  int digits(std::size_t min, std::size_t max) {
    std::size_t n = 0;
    int value = 0;
    while (n < max && n < text_.size() && is_ascii_digit(text_[n])) {
      value = value * 10 + (text_[n] - '0');
      ++n;
    }
    if (n < min) return -1;
    text_.remove_prefix(n);
    return value;
  }

  // "Jan".."Dec" as 1..12; 0 when it is no month name (HTTP-date month names are case-sensitive).
  unsigned month() {
    static constexpr std::array<std::string_view, 12> kMonths{
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (std::size_t i = 0; i < kMonths.size(); ++i) {
      if (literal(kMonths[i])) return static_cast<unsigned>(i + 1);
    }
    return 0;
  }

  // HH:MM:SS, each two digits; not range-checked.
  bool time_of_day(int& hour, int& minute, int& second) {
    hour = digits(2, 2);
    if (hour < 0 || !literal(":")) return false;
    minute = digits(2, 2);
    if (minute < 0 || !literal(":")) return false;
    second = digits(2, 2);
    return second >= 0;
  }

 private:
  std::string_view text_;
};

// Whether `time`, and any fraction of a second after it, fits the system clock.
bool fits_system_clock(std::chrono::sys_seconds time) {
  using std::chrono::seconds;
  constexpr seconds kLimit =
      std::chrono::duration_cast<seconds>(std::chrono::system_clock::duration::max()) - seconds(1);
  return time.time_since_epoch() >= -kLimit && time.time_since_epoch() <= kLimit;
}

}  // namespace

std::string_view write_rfc3339(std::chrono::system_clock::time_point time, Rfc3339Buffer& text) {
  using namespace std::chrono;
  const auto millis = floor<milliseconds>(time);
  const auto day = floor<days>(millis);
  const year_month_day date{day};
  const hh_mm_ss clock{millis - day};
  // A system_clock time point (64-bit nanoseconds) lies between the years 1677 and 2262: always
  // four digits. Every request carries one, so the fixed-width digits go into one buffer and
  // one append.
  const auto year = static_cast<unsigned>(static_cast<int>(date.year()));
  char* at = text.data();
  auto two = [&at](unsigned value) {
    *at++ = static_cast<char>('0' + value / 10);
    *at++ = static_cast<char>('0' + value % 10);
  };
  two(year / 100);
  two(year % 100);
  *at++ = '-';
  two(static_cast<unsigned>(date.month()));
  *at++ = '-';
  two(static_cast<unsigned>(date.day()));
  *at++ = 'T';
  two(static_cast<unsigned>(clock.hours().count()));
  *at++ = ':';
  two(static_cast<unsigned>(clock.minutes().count()));
  *at++ = ':';
  two(static_cast<unsigned>(clock.seconds().count()));
  if (const auto ms = static_cast<unsigned>(clock.subseconds().count()); ms != 0) {
    *at++ = '.';
    *at++ = static_cast<char>('0' + ms / 100);
    two(ms % 100);
  }
  *at++ = 'Z';
  return {text.data(), static_cast<std::size_t>(at - text.data())};
}

void append_rfc3339(std::chrono::system_clock::time_point time, std::string& out) {
  Rfc3339Buffer text;
  out.append(write_rfc3339(time, text));
}

std::string format_rfc3339(std::chrono::system_clock::time_point time) {
  std::string out;
  append_rfc3339(time, out);
  return out;
}

std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view text) {
  Cursor in(text);
  if (in.run(is_ascii_alpha).empty()) return std::nullopt;  // day name; not checked against it
  int year = -1;
  unsigned month = 0;
  int day = -1;
  int hour = 0;
  int minute = 0;
  int second = 0;
  if (in.literal(", ")) {
    day = in.digits(2, 2);
    if (in.literal("-")) {  // RFC 850: 06-Nov-94
      month = in.month();
      if (!in.literal("-")) return std::nullopt;
      const int two_digits = in.digits(2, 2);
      if (two_digits < 0) return std::nullopt;
      // RFC 9110 resolves a two-digit year relative to now; 1970 as the pivot says the same for
      // every date this software will see.
      year = two_digits < 70 ? 2000 + two_digits : 1900 + two_digits;
    } else {  // IMF-fixdate: 06 Nov 1994
      if (!in.literal(" ")) return std::nullopt;
      month = in.month();
      if (!in.literal(" ")) return std::nullopt;
      year = in.digits(4, 4);
    }
    if (!in.literal(" ") || !in.time_of_day(hour, minute, second) || !in.literal(" GMT")) {
      return std::nullopt;
    }
  } else {  // asctime: Nov  6 08:49:37 1994
    if (!in.literal(" ")) return std::nullopt;
    month = in.month();
    if (!in.literal(" ")) return std::nullopt;
    day = in.literal(" ") ? in.digits(1, 1) : in.digits(2, 2);
    if (!in.literal(" ") || !in.time_of_day(hour, minute, second) || !in.literal(" ")) {
      return std::nullopt;
    }
    year = in.digits(4, 4);
  }
  if (!in.done() || year < 0 || day < 0 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  using namespace std::chrono;
  const year_month_day date{std::chrono::year{year}, std::chrono::month{month},
                            std::chrono::day{static_cast<unsigned>(day)}};
  if (!date.ok()) return std::nullopt;
  const sys_seconds instant = sys_days{date} + hours{hour} + minutes{minute} + seconds{second};
  if (!fits_system_clock(instant)) return std::nullopt;
  return instant;
}

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text) {
  using namespace std::chrono;
  Cursor in(text);
  const int year_value = in.digits(4, 4);
  if (year_value < 0 || !in.literal("-")) return std::nullopt;
  const int month_value = in.digits(2, 2);
  if (month_value < 0 || !in.literal("-")) return std::nullopt;
  const int day_value = in.digits(2, 2);
  int hour_value = 0;
  int minute_value = 0;
  int second_value = 0;
  if (day_value < 0 || !in.one_of("Tt") ||
      !in.time_of_day(hour_value, minute_value, second_value)) {
    return std::nullopt;
  }

  nanoseconds fraction{0};
  if (in.literal(".")) {
    const std::string_view fraction_digits = in.run(is_ascii_digit);
    if (fraction_digits.empty()) return std::nullopt;
    std::int64_t scale = 100'000'000;
    for (const char digit : fraction_digits) {
      fraction += nanoseconds((digit - '0') * scale);
      scale /= 10;
    }
  }

  minutes offset{0};
  if (in.one_of("Zz")) {
    // UTC
  } else if (const bool negative = in.literal("-"); negative || in.literal("+")) {
    const int offset_hours = in.digits(2, 2);
    if (offset_hours < 0 || !in.literal(":")) return std::nullopt;
    const int offset_minutes = in.digits(2, 2);
    if (offset_minutes < 0 || offset_hours > 23 || offset_minutes > 59) return std::nullopt;
    offset = hours(offset_hours) + minutes(offset_minutes);
    if (negative) offset = -offset;
  } else {
    return std::nullopt;
  }
  if (!in.done()) return std::nullopt;

  const year_month_day date{year(year_value), month(static_cast<unsigned>(month_value)),
                            day(static_cast<unsigned>(day_value))};
  if (!date.ok() || hour_value > 23 || minute_value > 59 || second_value > 60) {
    return std::nullopt;
  }
  seconds second{second_value};
  if (second_value == 60) {
    second = seconds(59);
    fraction = nanoseconds(999'999'999);
  }
  const sys_seconds instant =
      sys_days(date) + hours(hour_value) + minutes(minute_value) + second - offset;
  if (!fits_system_clock(instant)) return std::nullopt;
  return time_point_cast<system_clock::duration>(instant) + fraction;
}

std::optional<std::chrono::system_clock::time_point> unix_millis_time(std::int64_t millis) {
  using std::chrono::milliseconds;
  constexpr std::int64_t kLimit =
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::duration::max()).count();
  if (millis > kLimit || millis < -kLimit) return std::nullopt;
  return std::chrono::system_clock::time_point(milliseconds(millis));
}

}  // namespace triggerd
