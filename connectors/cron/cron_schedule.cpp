#include "connectors/cron/cron_schedule.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <span>
#include <utility>
#include <vector>

#include "core/text.hpp"

namespace triggerd::cron {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::local_days;
using std::chrono::local_seconds;
using std::chrono::minutes;
using std::chrono::seconds;
using std::chrono::sys_seconds;

constexpr std::int64_t kFirstInstant = -62135596800;  // 0001-01-01T00:00:00Z
constexpr std::int64_t kLastInstant = 253402300799;   // 9999-12-31T23:59:59Z
constexpr int kLastYear = 9999;
// Caps @every far below int64 overflow and far above any sensible interval (~31,000 years).
constexpr std::int64_t kMaxIntervalSeconds = 1'000'000'000'000;

constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kWeekdayNames = {"SUN", "MON", "TUE", "WED",
                                                           "THU", "FRI", "SAT"};

struct FieldSpec {
  std::string_view name;
  int min;
  int max;
  // Upper end of `*` and of `N/step`; below `max` only for day-of-week, whose 7 is an alias.
  int implicit_max;
  std::span<const std::string_view> names{};  // names[i] stands for min_name_value + i
  int min_name_value = 0;
};

constexpr FieldSpec kSecondField{.name = "second", .min = 0, .max = 59, .implicit_max = 59};
constexpr FieldSpec kMinuteField{.name = "minute", .min = 0, .max = 59, .implicit_max = 59};
constexpr FieldSpec kHourField{.name = "hour", .min = 0, .max = 23, .implicit_max = 23};
constexpr FieldSpec kDayOfMonthField{
    .name = "day-of-month", .min = 1, .max = 31, .implicit_max = 31};
constexpr FieldSpec kMonthField{.name = "month",
                                .min = 1,
                                .max = 12,
                                .implicit_max = 12,
                                .names = kMonthNames,
                                .min_name_value = 1};
constexpr FieldSpec kDayOfWeekField{.name = "day-of-week",
                                    .min = 0,
                                    .max = 7,
                                    .implicit_max = 6,
                                    .names = kWeekdayNames,
                                    .min_name_value = 0};

std::vector<std::string_view> split_fields(std::string_view text) {
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_ascii_space(text[i])) ++i;
    const std::size_t start = i;
    while (i < text.size() && !is_ascii_space(text[i])) ++i;
    if (i > start) fields.push_back(text.substr(start, i - start));
  }
  return fields;
}

// Digits only, saturating so that "99999999999" still reports as out of range.
std::optional<std::int64_t> parse_digits(std::string_view text) {
  if (text.empty() || !std::all_of(text.begin(), text.end(), is_ascii_digit)) return std::nullopt;
  std::int64_t value = 0;
  for (char c : text) value = std::min<std::int64_t>(value * 10 + (c - '0'), 1'000'000'000'000);
  return value;
}

class FieldParser {
 public:
  FieldParser(const FieldSpec& spec, std::string* error) : spec_(spec), error_(error) {}

  // Sets the bits of every value the field matches.
  bool parse(std::string_view field, std::uint64_t* bits) {
    std::size_t start = 0;
    while (true) {
      const std::size_t comma = field.find(',', start);
      const std::string_view item =
          field.substr(start, comma == std::string_view::npos ? field.npos : comma - start);
      if (!parse_item(item, bits)) return false;
      if (comma == std::string_view::npos) return true;
      start = comma + 1;
    }
  }

 private:
  bool fail(const std::string& message) {
    if (error_ != nullptr) *error_ = std::string(spec_.name) + " field: " + message;
    return false;
  }

  bool parse_value(std::string_view text, int* value) {
    if (!text.empty() && is_ascii_alpha(text.front()) && !spec_.names.empty()) {
      for (std::size_t i = 0; i < spec_.names.size(); ++i) {
        if (equals_ignoring_case(text, spec_.names[i])) {
          *value = spec_.min_name_value + static_cast<int>(i);
          return true;
        }
      }
      return fail("unknown name " + quote(text));
    }
    const std::optional<std::int64_t> number = parse_digits(text);
    if (!number) return fail(quote(text) + " is not a number");
    if (*number < spec_.min || *number > spec_.max) {
      return fail(std::string(text) + " is out of range " + std::to_string(spec_.min) + "-" +
                  std::to_string(spec_.max));
    }
    *value = static_cast<int>(*number);
    return true;
  }

  bool parse_item(std::string_view item, std::uint64_t* bits) {
    if (item.empty()) return fail("empty list item");
    const std::size_t slash = item.find('/');
    const std::string_view base = item.substr(0, slash);
    std::int64_t step = 1;
    if (slash != std::string_view::npos) {
      const std::string_view step_text = item.substr(slash + 1);
      const std::optional<std::int64_t> parsed = parse_digits(step_text);
      if (!parsed) return fail("step " + quote(step_text) + " is not a number");
      if (*parsed < 1) return fail("step must be at least 1");
      step = *parsed;
    }

    int low = 0;
    int high = 0;
    const std::size_t dash = base.find('-');
    if (base == "*") {
      low = spec_.min;
      high = spec_.implicit_max;
    } else if (dash != std::string_view::npos) {
      const std::string_view first = base.substr(0, dash);
      const std::string_view last = base.substr(dash + 1);
      if (first.empty() || last.empty() || last.find('-') != std::string_view::npos) {
        return fail(quote(base) + " is not a valid range");
      }
      if (!parse_value(first, &low) || !parse_value(last, &high)) return false;
      if (low > high) return fail("range " + std::string(base) + " is backwards");
    } else {
      if (base.empty()) return fail(quote(item) + " has no start value");
      if (!parse_value(base, &low)) return false;
      // "5/15" runs from 5 to the end of the field, as other cron implementations read it.
      high = slash == std::string_view::npos ? low : std::max(low, spec_.implicit_max);
    }
    for (std::int64_t v = low; v <= high; v += step) *bits |= std::uint64_t{1} << v;
    return true;
  }

  const FieldSpec& spec_;
  std::string* error_;
};

bool set_error(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return false;
}

constexpr std::string_view kEveryUsage = "@every needs a duration with a unit, e.g. @every 10s";

// "90s", "1m30s", "2h": whole seconds only; the interval is an id, sub-second ticks would
// collide.
std::optional<seconds> parse_every(std::string_view text, std::string* error) {
  if (text.empty() || !is_ascii_digit(text.front())) {
    set_error(error, std::string(kEveryUsage));
    return std::nullopt;
  }
  if (std::any_of(text.begin(), text.end(), is_ascii_space)) {
    set_error(error, "@every takes a single duration, e.g. @every 1m30s");
    return std::nullopt;
  }
  std::int64_t total = 0;
  while (!text.empty()) {
    std::size_t n = 0;
    while (n < text.size() && is_ascii_digit(text[n])) ++n;
    if (n == 0) {
      set_error(error, std::string(kEveryUsage));
      return std::nullopt;
    }
    const std::int64_t amount = *parse_digits(text.substr(0, n));
    text.remove_prefix(n);
    std::size_t unit_length = 0;
    while (unit_length < text.size() && !is_ascii_digit(text[unit_length])) ++unit_length;
    const std::string_view unit = text.substr(0, unit_length);
    text.remove_prefix(unit_length);
    std::int64_t unit_seconds = 0;
    if (unit.empty()) {
      set_error(error, std::string(kEveryUsage));
      return std::nullopt;
    } else if (unit == "h") {
      unit_seconds = 3600;
    } else if (unit == "m") {
      unit_seconds = 60;
    } else if (unit == "s") {
      unit_seconds = 1;
    } else {
      set_error(error, "@every: unknown unit " + quote(unit) + ", use h, m or s");
      return std::nullopt;
    }
    if (amount > kMaxIntervalSeconds / unit_seconds ||
        total + amount * unit_seconds > kMaxIntervalSeconds) {
      set_error(error, "@every duration is too long");
      return std::nullopt;
    }
    total += amount * unit_seconds;
  }
  if (total < 1) {
    set_error(error, "@every interval must be at least 1s");
    return std::nullopt;
  }
  return seconds{total};
}

// The lowest set bit of `mask` at or above `from`, or -1.
int next_bit(std::uint64_t mask, unsigned from) {
  if (from >= 64) return -1;
  const std::uint64_t above = mask & (~std::uint64_t{0} << from);
  return above == 0 ? -1 : std::countr_zero(above);
}

unsigned last_day_of(std::chrono::year_month month) {
  return static_cast<unsigned>((month / std::chrono::last).day());
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  const std::int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

}  // namespace

std::optional<Schedule> Schedule::parse(std::string_view expression, std::string* error) {
  std::string_view text = trim_whitespace(expression);
  if (text.empty()) {
    set_error(error, "schedule is empty");
    return std::nullopt;
  }

  if (text.front() == '@') {
    std::size_t end = 0;
    while (end < text.size() && !is_ascii_space(text[end])) ++end;
    const std::string_view macro = text.substr(0, end);
    const std::string_view argument = trim_whitespace(text.substr(end));
    if (equals_ignoring_case(macro, "@every")) {
      const std::optional<seconds> interval = parse_every(argument, error);
      if (!interval) return std::nullopt;
      Schedule schedule;
      schedule.interval_ = *interval;
      return schedule;
    }
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 7> kMacros = {{
        {"@yearly", "0 0 1 1 *"},
        {"@annually", "0 0 1 1 *"},
        {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"},
        {"@daily", "0 0 * * *"},
        {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"},
    }};
    for (const auto& [name, fields] : kMacros) {
      if (!equals_ignoring_case(macro, name)) continue;
      if (!argument.empty()) {
        set_error(error, std::string(name) + " takes no arguments");
        return std::nullopt;
      }
      return parse(fields, error);
    }
    set_error(error, "unknown macro " + quote(macro));
    return std::nullopt;
  }

  const std::vector<std::string_view> fields = split_fields(text);
  if (fields.size() != 5 && fields.size() != 6) {
    set_error(error, "expected 5 or 6 fields, got " + std::to_string(fields.size()));
    return std::nullopt;
  }
  const std::size_t first = fields.size() == 6 ? 1 : 0;
  Schedule schedule;
  std::uint64_t seconds_bits = 0;
  if (first == 1) {
    if (!FieldParser(kSecondField, error).parse(fields[0], &seconds_bits)) return std::nullopt;
  } else {
    seconds_bits = 1;
  }
  std::array<std::uint64_t, 5> bits{};
  constexpr std::array<const FieldSpec*, 5> kSpecs = {&kMinuteField, &kHourField, &kDayOfMonthField,
                                                      &kMonthField, &kDayOfWeekField};
  for (std::size_t i = 0; i < kSpecs.size(); ++i) {
    if (!FieldParser(*kSpecs[i], error).parse(fields[first + i], &bits[i])) return std::nullopt;
  }
  schedule.seconds_ = seconds_bits;
  schedule.minutes_ = bits[0];
  schedule.hours_ = static_cast<std::uint32_t>(bits[1]);
  schedule.days_of_month_ = static_cast<std::uint32_t>(bits[2]);
  schedule.months_ = static_cast<std::uint32_t>(bits[3]);
  // Day 7 is Sunday again.
  schedule.days_of_week_ = static_cast<std::uint32_t>((bits[4] | (bits[4] >> 7)) & 0x7f);
  schedule.any_day_of_month_ = fields[first + 2] == "*";
  schedule.any_day_of_week_ = fields[first + 4] == "*";

  // Only a day-of-month restricted on its own can miss every month ("30 2", "31 4,6"); with
  // the either-or rule a weekday always comes round. February counts 29 days: leap years.
  if (!schedule.any_day_of_month_ && schedule.any_day_of_week_) {
    constexpr std::array<unsigned, 13> kLongestMonth = {0,  31, 29, 31, 30, 31, 30,
                                                        31, 31, 30, 31, 30, 31};
    bool possible = false;
    for (unsigned m = 1; m <= 12; ++m) {
      const std::uint32_t days_in_month = (std::uint32_t{2} << kLongestMonth[m]) - 2;
      if ((schedule.months_ >> m & 1) != 0 && (schedule.days_of_month_ & days_in_month) != 0) {
        possible = true;
      }
    }
    if (!possible) {
      set_error(error, "never fires (no such date)");
      return std::nullopt;
    }
  }
  return schedule;
}

bool Schedule::day_matches(std::chrono::year_month_day date) const {
  const bool day_of_month = (days_of_month_ >> static_cast<unsigned>(date.day()) & 1) != 0;
  const bool day_of_week =
      (days_of_week_ >> std::chrono::weekday{local_days{date}}.c_encoding() & 1) != 0;
  if (!any_day_of_month_ && !any_day_of_week_) return day_of_month || day_of_week;
  return day_of_month && day_of_week;
}

std::optional<local_seconds> Schedule::next_match(local_seconds from) const {
  using std::chrono::year;
  using std::chrono::year_month_day;
  // Each pass either returns or moves `t` forward to the next candidate month, day, hour or
  // minute, so the loop is bounded by the calendar, not by seconds: a leap-day schedule
  // takes a few hundred passes to find a year up to eight years away.
  local_seconds t = from;
  while (true) {
    const local_days day = std::chrono::floor<days>(t);
    const year_month_day date{day};
    if (date.year() > year{kLastYear}) return std::nullopt;

    const auto month = static_cast<unsigned>(date.month());
    if ((months_ >> month & 1) == 0) {
      const int next = next_bit(months_, month + 1);
      if (next > 0) {
        t = local_days{date.year() / std::chrono::month{static_cast<unsigned>(next)} / 1};
      } else {
        const auto first = static_cast<unsigned>(std::countr_zero(months_));
        t = local_days{(date.year() + std::chrono::years{1}) / std::chrono::month{first} / 1};
      }
      continue;
    }

    if (!day_matches(date)) {
      const unsigned day_of_month = static_cast<unsigned>(date.day());
      const unsigned last = last_day_of(date.year() / date.month());
      if (any_day_of_week_) {
        // Only day-of-month restricts: jump straight to its next day in this month.
        const int next = next_bit(days_of_month_, day_of_month + 1);
        if (next > 0 && static_cast<unsigned>(next) <= last) {
          t = day + days{static_cast<unsigned>(next) - day_of_month};
        } else {
          t = day + days{last - day_of_month + 1};
        }
      } else {
        t = day + days{1};
      }
      continue;
    }

    const auto time_of_day = (t - day).count();
    auto hour = static_cast<unsigned>(time_of_day / 3600);
    auto minute = static_cast<unsigned>(time_of_day / 60 % 60);
    auto second = static_cast<unsigned>(time_of_day % 60);
    const int next_hour = next_bit(hours_, hour);
    if (next_hour < 0) {
      t = day + days{1};
      continue;
    }
    if (static_cast<unsigned>(next_hour) != hour) {
      hour = static_cast<unsigned>(next_hour);
      minute = 0;
      second = 0;
    }
    const int next_minute = next_bit(minutes_, minute);
    if (next_minute < 0) {
      t = day + hours{hour + 1};
      continue;
    }
    if (static_cast<unsigned>(next_minute) != minute) {
      minute = static_cast<unsigned>(next_minute);
      second = 0;
    }
    const int next_second = next_bit(seconds_, second);
    if (next_second < 0) {
      t = day + hours{hour} + minutes{minute + 1};
      continue;
    }
    return day + hours{hour} + minutes{minute} + seconds{next_second};
  }
}

sys_seconds Schedule::next_after(sys_seconds after, const TimeZone& tz) const {
  const std::int64_t now = after.time_since_epoch().count();
  if (now >= kLastInstant) return sys_seconds::max();

  if (interval_ > seconds{0}) {
    // Whole multiples of the interval since the epoch: the same instants on every replica,
    // whatever its clock said when it started.
    const std::int64_t step = interval_.count();
    return sys_seconds{seconds{(floor_div(now, step) + 1) * step}};
  }

  const sys_seconds start{seconds{std::max(now, kFirstInstant)}};
  local_seconds from = tz.to_local(start) + seconds{1};
  // The instant a wall-clock time fires at never decreases as the wall-clock time grows, so
  // the first match whose instant is past `after` is the answer. Matches before it can only
  // be in a fall-back overlap that `after` is already in the second pass of.
  while (true) {
    const std::optional<local_seconds> match = next_match(from);
    if (!match) return sys_seconds::max();
    const LocalInstants instants = tz.from_local(*match);
    const sys_seconds fire = instants.count == 0 ? instants.gap_end : instants.first;
    if (fire > after) return fire;
    from = *match + seconds{1};
  }
}

}  // namespace triggerd::cron
