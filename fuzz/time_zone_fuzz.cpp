// Time zone data: the bytes of a TZif file (input starting with "TZif"), or anything else as
// the POSIX TZ rule of a zone's footer ("CET-1CEST,M3.5.0,M10.5.0/3"), wrapped in a TZif file
// of its own. A zone that loads is then asked about instants from year 1 to 9999 and beyond:
// every instant shows a local time, and the local time must lead back to the instant.
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "connectors/cron/time_zone.hpp"
#include "tzif_builder.hpp"

namespace {

using std::chrono::seconds;
using std::chrono::sys_seconds;
using triggerd::cron::LocalInstants;
using triggerd::cron::TimeZone;

// RFC 8536's bound on offsets (the loader refuses data outside it).
constexpr std::int64_t kMinOffset = -89999;
constexpr std::int64_t kMaxOffset = 93599;

// From before year 1 to after 9999, dense around the years zones changed most, and on both
// sides of 2038 (where 32-bit TZif data ends and the footer's rule takes over).
constexpr std::array<std::int64_t, 24> kInstants = {-70'000'000'000,
                                                    -62'135'596'800,
                                                    -30'000'000'000,
                                                    -2'208'988'800,
                                                    -1'000'000'000,
                                                    -1,
                                                    0,
                                                    1,
                                                    100'000'000,
                                                    800'000'000,
                                                    1'000'000'000,
                                                    1'200'000'000,
                                                    1'700'000'000,
                                                    1'711'846'800,
                                                    1'729'990'800,
                                                    2'147'483'647,
                                                    2'147'483'648,
                                                    2'500'000'000,
                                                    4'102'444'800,
                                                    10'000'000'000,
                                                    100'000'000'000,
                                                    253'402'300'799,
                                                    253'402'300'800,
                                                    300'000'000'000};

[[noreturn]] void fail(const std::string& what, std::int64_t instant) {
  std::fprintf(stderr, "time zone: %s (instant %lld)\n", what.c_str(),
               static_cast<long long>(instant));
  std::abort();
}

void check_instant(const TimeZone& zone, std::int64_t instant) {
  const sys_seconds at{seconds{instant}};
  const std::int64_t offset = zone.offset_at(at).count();
  if (offset < kMinOffset || offset > kMaxOffset) fail("offset out of bounds", instant);
  const std::chrono::local_seconds local = zone.to_local(at);
  if (local.time_since_epoch().count() != instant + offset) fail("to_local disagrees", instant);

  // The instant shows `local`, so `local` happens at least once, and if only once, then here.
  // (Two occurrences listed may leave out a third that odd data can make.)
  const LocalInstants back = zone.from_local(local);
  if (back.count < 1 || back.count > 2)
    fail("local time found " + std::to_string(back.count) + " times", instant);
  if (back.count == 1 && back.first != at) fail("local time leads to another instant", instant);
  if (back.count == 2 && back.first >= back.second) fail("occurrences out of order", instant);

  // A local time a few hours on: each instant listed must show it.
  const std::chrono::local_seconds later = local + std::chrono::hours{3};
  const LocalInstants forward = zone.from_local(later);
  if (forward.count >= 1 && zone.to_local(forward.first) != later) {
    fail("first occurrence does not show its local time", instant);
  }
  if (forward.count == 2 && zone.to_local(forward.second) != later) {
    fail("second occurrence does not show its local time", instant);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string error;
  std::optional<TimeZone> zone;
  if (input.starts_with("TZif")) {
    zone = TimeZone::from_tzif("Fuzz/Data", input, &error);
  } else {
    // A footer cannot hold a line break; one would only end it early.
    if (input.find('\n') != std::string_view::npos) return -1;
    zone = TimeZone::from_tzif("Fuzz/Rule", triggerd::fuzz::make_tzif(0, input), &error);
  }
  if (!zone) {
    if (error.empty()) fail("refused without a message", 0);
    return 0;
  }
  for (const std::int64_t instant : kInstants) check_instant(*zone, instant);
  return 0;
}
