// Cron expressions, parsed by Schedule and, as a reference, by CronReference (an independent
// reading of the documented syntax). Both must accept and refuse the same expressions. For an
// accepted one, the next fire time after an instant must be what a brute-force scan of the
// calendar finds: the first matching time, nothing matching in between.
//
// Input: the expression, then optionally a NUL and binary parameters: the instant to ask
// about and the zone (UTC, a fixed offset, or Europe/Berlin for its daylight saving changes).
#include <fuzzer/FuzzedDataProvider.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "connectors/cron/cron_schedule.hpp"
#include "connectors/cron/time_zone.hpp"
#include "cron_reference.hpp"
#include "tzif_builder.hpp"

namespace {

using std::chrono::seconds;
using std::chrono::sys_seconds;
using triggerd::cron::Schedule;
using triggerd::cron::TimeZone;

constexpr std::int64_t kDefaultInstant = 1'700'000'000;  // 2023-11-14T22:13:20Z
// The reference is asked only about instants whose scan stays inside the years Schedule
// covers (1 to 9999) with room to spare.
constexpr std::int64_t kFirstCheckedInstant = -62'000'000'000;  // year 5
constexpr std::int64_t kLastCheckedInstant = 253'000'000'000;   // year 9987
// About eight years: a February 29 comes round within it even across 2100.
constexpr int kWindowDays = 3000;

[[noreturn]] void fail(std::string_view expression, std::int64_t after, std::int32_t offset,
                       const std::string& what) {
  std::fprintf(stderr, "cron: %s\n  expression \"%.*s\", after %lld, offset %d\n", what.c_str(),
               static_cast<int>(expression.size()), expression.data(),
               static_cast<long long>(after), offset);
  std::abort();
}

const TimeZone& berlin() {
  static const TimeZone zone = [] {
    std::string error;
    std::optional<TimeZone> loaded = TimeZone::load("Europe/Berlin", &error);
    if (!loaded) {
      std::fprintf(stderr, "cron target: %s (install tzdata)\n", error.c_str());
      std::abort();
    }
    return *loaded;
  }();
  return zone;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = input.find('\0');
  const std::string_view expression = input.substr(0, nul);
  std::int64_t after = kDefaultInstant;
  int zone_kind = 0;
  std::int32_t offset = 0;
  if (nul != std::string_view::npos) {
    FuzzedDataProvider parameters(data + nul + 1, size - nul - 1);
    after = parameters.ConsumeIntegral<std::int64_t>();
    zone_kind = parameters.ConsumeIntegralInRange(0, 2);
    offset = parameters.ConsumeIntegralInRange<std::int32_t>(-89999, 93599);
  }

  std::string error;
  const std::optional<Schedule> schedule = Schedule::parse(expression, &error);
  const std::optional<triggerd::fuzz::CronReference> reference =
      triggerd::fuzz::CronReference::parse(expression);
  if (schedule.has_value() != reference.has_value()) {
    fail(expression, after, offset,
         schedule ? "Schedule accepts what the reference refuses"
                  : "Schedule refuses what the reference accepts: " + error);
  }
  if (!schedule) {
    if (error.empty()) fail(expression, after, offset, "refused without a message");
    return 0;
  }

  std::optional<TimeZone> fixed;
  const TimeZone* zone = nullptr;
  if (zone_kind == 1) {
    fixed = TimeZone::from_tzif("Fuzz/Fixed", triggerd::fuzz::make_tzif(offset, ""), &error);
    if (!fixed) fail(expression, after, offset, "fixed-offset zone refused: " + error);
    zone = &*fixed;
  } else if (zone_kind == 2) {
    zone = &berlin();
  } else {
    static const TimeZone utc = TimeZone::utc();
    zone = &utc;
    offset = 0;
  }

  const sys_seconds fire = schedule->next_after(sys_seconds{seconds{after}}, *zone);
  const std::int64_t fire_at = fire.time_since_epoch().count();
  if (fire != sys_seconds::max() && fire_at <= after) {
    fail(expression, after, offset, "fires at " + std::to_string(fire_at) + ", not after");
  }

  if (reference->every() > 0) {
    // Whole multiples of the interval since the epoch, whatever the zone.
    const std::int64_t step = reference->every();
    if (after >= kLastCheckedInstant || after <= -kLastCheckedInstant) return 0;
    std::int64_t expected = (after / step + 1) * step;
    if (after < 0 && after % step != 0) expected -= step;
    if (fire_at != expected) {
      fail(expression, after, offset,
           "@every fires at " + std::to_string(fire_at) + ", expected " + std::to_string(expected));
    }
    return 0;
  }
  // Daylight saving time has rules of its own (gaps, overlaps); the scan knows only fixed
  // offsets, where every local time happens exactly once.
  if (zone_kind == 2 || after < kFirstCheckedInstant || after > kLastCheckedInstant) return 0;

  const std::optional<std::int64_t> local_match =
      reference->first_match(after + offset + 1, kWindowDays);
  if (local_match) {
    const std::int64_t expected = *local_match - offset;
    if (fire_at != expected) {
      fail(expression, after, offset,
           "fires at " + std::to_string(fire_at) + ", the scan " + "finds " +
               std::to_string(expected));
    }
  } else {
    // Nothing within the window: the fire time lies beyond it, and must match.
    const std::int64_t window_end = (after + offset) + std::int64_t{kWindowDays} * 86400;
    if (fire == sys_seconds::max()) return 0;
    if (fire_at + offset <= window_end) {
      fail(expression, after, offset,
           "fires at " + std::to_string(fire_at) + " where the scan finds nothing");
    }
    if (!reference->matches(fire_at + offset)) {
      fail(expression, after, offset,
           "fires at " + std::to_string(fire_at) + ", which does not match");
    }
  }
  return 0;
}
