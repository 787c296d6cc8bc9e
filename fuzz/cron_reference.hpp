#pragma once
// A second, independent reading of the cron syntax that connectors/cron/cron_schedule.hpp
// documents, for the cron target to check Schedule against: which expressions are valid, and
// which local times match. Plain and slow on purpose (a set per field, one calendar check per
// second asked about); it shares no code with Schedule, so a mistake has to be made twice, the
// same way, to go unnoticed.
#include <bitset>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace triggerd::fuzz {

class CronReference {
 public:
  // Nullopt when the expression is not valid by the documented syntax.
  static std::optional<CronReference> parse(std::string_view text) {
    text = trim(text);
    if (text.empty()) return std::nullopt;
    if (text.front() == '@') return parse_macro(text);

    std::vector<std::string_view> fields;
    std::size_t at = 0;
    while (at < text.size()) {
      while (at < text.size() && is_space(text[at])) ++at;
      std::size_t end = at;
      while (end < text.size() && !is_space(text[end])) ++end;
      if (end > at) fields.push_back(text.substr(at, end - at));
      at = end;
    }
    if (fields.size() != 5 && fields.size() != 6) return std::nullopt;
    const std::size_t first = fields.size() - 5;
    CronReference cron;
    std::bitset<64> seconds;
    if (first == 1) {
      if (!parse_field(fields[0], 0, 59, 59, {}, &seconds)) return std::nullopt;
    } else {
      seconds.set(0);
    }
    std::bitset<64> minutes, hours, days, months, weekdays;
    static const std::vector<std::string> kMonths = {"jan", "feb", "mar", "apr", "may", "jun",
                                                     "jul", "aug", "sep", "oct", "nov", "dec"};
    static const std::vector<std::string> kWeekdays = {"sun", "mon", "tue", "wed",
                                                       "thu", "fri", "sat"};
    if (!parse_field(fields[first], 0, 59, 59, {}, &minutes) ||
        !parse_field(fields[first + 1], 0, 23, 23, {}, &hours) ||
        !parse_field(fields[first + 2], 1, 31, 31, {}, &days) ||
        !parse_field(fields[first + 3], 1, 12, 12, kMonths, &months) ||
        !parse_field(fields[first + 4], 0, 7, 6, kWeekdays, &weekdays)) {
      return std::nullopt;
    }
    for (int v = 0; v < 60; ++v) {
      cron.seconds_[v] = seconds[v];
      cron.minutes_[v] = minutes[v];
    }
    for (int v = 0; v < 24; ++v) cron.hours_[v] = hours[v];
    for (int v = 1; v <= 31; ++v) cron.days_[v] = days[v];
    for (int v = 1; v <= 12; ++v) cron.months_[v] = months[v];
    for (int v = 0; v < 7; ++v) cron.weekdays_[v] = weekdays[v] || (v == 0 && weekdays[7]);
    cron.any_day_ = fields[first + 2] == "*";
    cron.any_weekday_ = fields[first + 4] == "*";

    // Only a restricted day of the month with any weekday can name a date that never comes:
    // try every day of a leap year.
    if (!cron.any_day_ && cron.any_weekday_) {
      bool possible = false;
      for (unsigned m = 1; m <= 12 && !possible; ++m) {
        const std::chrono::year_month_day_last last{
            std::chrono::year{2024}, std::chrono::month_day_last{std::chrono::month{m}}};
        for (unsigned d = 1; d <= static_cast<unsigned>(last.day()); ++d) {
          if (cron.months_[m] && cron.days_[d]) possible = true;
        }
      }
      if (!possible) return std::nullopt;
    }
    return cron;
  }

  // @every: the interval in seconds; 0 for calendar schedules.
  std::int64_t every() const { return every_; }

  // Whether the local wall-clock time `local` (seconds since the epoch, as local_seconds
  // counts them) matches.
  bool matches(std::int64_t local) const {
    std::int64_t day = local / 86400;
    std::int64_t second_of_day = local % 86400;
    if (second_of_day < 0) {
      second_of_day += 86400;
      day -= 1;
    }
    if (!day_matches(day)) return false;
    return hours_[second_of_day / 3600] && minutes_[second_of_day / 60 % 60] &&
           seconds_[second_of_day % 60];
  }

  // Whether day `day` (days since 1970-01-01) matches the month and day fields.
  bool day_matches(std::int64_t day) const {
    const std::chrono::sys_days date{std::chrono::days{day}};
    const std::chrono::year_month_day ymd{date};
    if (!months_[static_cast<unsigned>(ymd.month())]) return false;
    const bool by_day = days_[static_cast<unsigned>(ymd.day())];
    const bool by_weekday = weekdays_[std::chrono::weekday{date}.c_encoding()];
    if (!any_day_ && !any_weekday_) return by_day || by_weekday;
    return by_day && by_weekday;
  }

  // The first matching local time at or after `from` within `window_days` days of it.
  std::optional<std::int64_t> first_match(std::int64_t from, int window_days) const {
    std::int64_t day = from / 86400 - (from % 86400 < 0 ? 1 : 0);
    for (int n = 0; n <= window_days; ++n, ++day) {
      if (!day_matches(day)) continue;
      for (std::int64_t second = 0; second < 86400; ++second) {
        const std::int64_t local = day * 86400 + second;
        if (local >= from && hours_[second / 3600] && minutes_[second / 60 % 60] &&
            seconds_[second % 60]) {
          return local;
        }
      }
    }
    return std::nullopt;
  }

 private:
  static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
  }
  static bool is_digit(char c) { return c >= '0' && c <= '9'; }
  static std::string_view trim(std::string_view text) {
    while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
    return text;
  }
  static std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
  }
  // Digits only; nullopt beyond 10^12 (everything that large is out of every range anyway).
  static std::optional<std::int64_t> number(std::string_view text) {
    if (text.empty()) return std::nullopt;
    std::int64_t value = 0;
    for (char c : text) {
      if (!is_digit(c)) return std::nullopt;
      value = value * 10 + (c - '0');
      if (value > 1'000'000'000'000) value = 1'000'000'000'000;
    }
    return value;
  }

  static bool parse_value(std::string_view text, int min, int max,
                          const std::vector<std::string>& names, int* out) {
    const std::string name = lower(text);
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (name == names[i]) {
        *out = min + static_cast<int>(i);  // JAN is 1, SUN is 0: each field's first value
        return true;
      }
    }
    const auto value = number(text);
    if (!value || *value < min || *value > max) return false;
    *out = static_cast<int>(*value);
    return true;
  }

  static bool parse_field(std::string_view field, int min, int max, int star_max,
                          const std::vector<std::string>& names, std::bitset<64>* bits) {
    std::size_t start = 0;
    while (true) {
      const std::size_t comma = field.find(',', start);
      const std::string_view item = comma == std::string_view::npos
                                        ? field.substr(start)
                                        : field.substr(start, comma - start);
      if (item.empty()) return false;
      std::string_view base = item;
      std::int64_t step = 1;
      const std::size_t slash = item.find('/');
      if (slash != std::string_view::npos) {
        base = item.substr(0, slash);
        const auto parsed = number(item.substr(slash + 1));
        if (!parsed || *parsed < 1) return false;
        step = *parsed;
      }
      int low = 0;
      int high = 0;
      if (base == "*") {
        low = min;
        high = star_max;
      } else if (const std::size_t dash = base.find('-'); dash != std::string_view::npos) {
        if (!parse_value(base.substr(0, dash), min, max, names, &low) ||
            !parse_value(base.substr(dash + 1), min, max, names, &high) || low > high) {
          return false;
        }
      } else {
        if (!parse_value(base, min, max, names, &low)) return false;
        high = slash == std::string_view::npos ? low : std::max(low, star_max);
      }
      for (std::int64_t v = low; v <= high; v += step) bits->set(static_cast<std::size_t>(v));
      if (comma == std::string_view::npos) return true;
      start = comma + 1;
    }
  }

  static std::optional<CronReference> parse_macro(std::string_view text) {
    std::size_t end = 0;
    while (end < text.size() && !is_space(text[end])) ++end;
    const std::string macro = lower(text.substr(0, end));
    const std::string_view argument = trim(text.substr(end));
    if (macro == "@every") return parse_every(argument);
    const std::pair<const char*, const char*> kMacros[] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"}};
    for (const auto& [name, fields] : kMacros) {
      if (macro == name) return argument.empty() ? parse(fields) : std::nullopt;
    }
    return std::nullopt;
  }

  static std::optional<CronReference> parse_every(std::string_view text) {
    constexpr std::int64_t kMax = 1'000'000'000'000;
    if (text.empty()) return std::nullopt;
    std::int64_t total = 0;
    while (!text.empty()) {
      std::size_t digits = 0;
      while (digits < text.size() && is_digit(text[digits])) ++digits;
      const auto amount = number(text.substr(0, digits));
      if (!amount) return std::nullopt;
      text.remove_prefix(digits);
      std::size_t unit_length = 0;
      while (unit_length < text.size() && !is_digit(text[unit_length])) ++unit_length;
      const std::string_view unit = text.substr(0, unit_length);
      text.remove_prefix(unit_length);
      const std::int64_t scale = unit == "h" ? 3600 : unit == "m" ? 60 : unit == "s" ? 1 : 0;
      if (scale == 0) return std::nullopt;
      if (*amount > kMax / scale || total + *amount * scale > kMax) return std::nullopt;
      total += *amount * scale;
    }
    if (total < 1) return std::nullopt;
    CronReference cron;
    cron.every_ = total;
    return cron;
  }

  std::bitset<60> seconds_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;
  std::bitset<13> months_;
  std::bitset<7> weekdays_;
  bool any_day_ = true;
  bool any_weekday_ = true;
  std::int64_t every_ = 0;
};

}  // namespace triggerd::fuzz
