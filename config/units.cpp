#include "config/units.hpp"

#include <array>
#include <charconv>
#include <limits>

namespace triggerd::config {
namespace {

struct Unit {
  std::string_view suffix;
  std::uint64_t factor;
};

// Reads "<digits><unit>" from the front of `text`; units are tried longest first so that
// "ms" is not read as "m" followed by garbage.
struct Term {
  std::uint64_t value;     // number times the unit's factor
  std::size_t length;      // characters consumed
  std::uint64_t factor;    // of the unit read
};

template <std::size_t N>
std::optional<Term> read_term(std::string_view text, const std::array<Unit, N>& units) {
  std::uint64_t number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || end == text.data()) return std::nullopt;
  std::string_view rest(end, text.data() + text.size() - end);
  for (std::size_t i = 0; i < N; ++i) {
    if (rest.starts_with(units[i].suffix)) {
      if (units[i].factor != 0 && number > std::numeric_limits<std::uint64_t>::max() / units[i].factor)
        return std::nullopt;
      return Term{number * units[i].factor,
                  static_cast<std::size_t>(end - text.data()) + units[i].suffix.size(),
                  units[i].factor};
    }
  }
  return std::nullopt;
}

constexpr std::array<Unit, 4> kDurationUnits{{{"ms", 1}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}}};
constexpr std::array<Unit, 7> kSizeUnits{{{"KiB", 1ull << 10},
                                         {"MiB", 1ull << 20},
                                         {"GiB", 1ull << 30},
                                         {"KB", 1'000},
                                         {"MB", 1'000'000},
                                         {"GB", 1'000'000'000},
                                         {"B", 1}}};

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::uint64_t total_ms = 0;
  std::uint64_t last_factor = std::numeric_limits<std::uint64_t>::max();
  while (!text.empty()) {
    auto term = read_term(text, kDurationUnits);
    if (!term) return std::nullopt;
    // Units must go from largest to smallest, each at most once: "1m30s", not "30s1m".
    if (term->factor >= last_factor) return std::nullopt;
    last_factor = term->factor;
    if (total_ms > std::numeric_limits<std::int64_t>::max() - term->value) return std::nullopt;
    total_ms += term->value;
    text.remove_prefix(term->length);
  }
  return Duration(static_cast<std::int64_t>(total_ms));
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  auto term = read_term(text, kSizeUnits);
  if (!term || term->length != text.size()) return std::nullopt;
  return term->value;
}

std::string format_duration(Duration duration) {
  auto ms = duration.count();
  if (ms == 0) return "0s";
  std::string out;
  const std::pair<std::int64_t, const char*> parts[] = {
      {3'600'000, "h"}, {60'000, "m"}, {1'000, "s"}, {1, "ms"}};
  for (const auto& [factor, suffix] : parts) {
    if (ms >= factor) {
      out += std::to_string(ms / factor) + suffix;
      ms %= factor;
    }
  }
  return out;
}

}  // namespace triggerd::config
