#include "connectors/cron/time_zone.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "connectors/cron/test_timestamps.hpp"

namespace triggerd::cron {
namespace {

using std::chrono::local_seconds;
using std::chrono::seconds;
using std::chrono::sys_seconds;

using test::at;
using test::wall;

std::optional<TimeZone> load(const std::string& name) {
  std::string error;
  std::optional<TimeZone> tz = TimeZone::load(name, &error);
  EXPECT_TRUE(tz.has_value()) << name << ": " << error;
  return tz;
}

std::string load_error(const std::string& name) {
  std::string error;
  EXPECT_FALSE(TimeZone::load(name, &error).has_value()) << name;
  return error;
}

// Restores $TZDIR when a test that points it elsewhere ends. Tests run on one thread, so
// changing the environment is safe here.
// NOLINTBEGIN(concurrency-mt-unsafe)
class ScopedTzdir {
 public:
  explicit ScopedTzdir(const std::string& dir) {
    if (const char* old = std::getenv("TZDIR")) old_ = old;
    ::setenv("TZDIR", dir.c_str(), 1);
  }
  ~ScopedTzdir() {
    if (old_) {
      ::setenv("TZDIR", old_->c_str(), 1);
    } else {
      ::unsetenv("TZDIR");
    }
  }
  ScopedTzdir(const ScopedTzdir&) = delete;
  ScopedTzdir& operator=(const ScopedTzdir&) = delete;

 private:
  std::optional<std::string> old_;
};
// NOLINTEND(concurrency-mt-unsafe)

// Writes TZif files by hand, to reach what the system database does not have: version 1
// files, footers of every kind, and broken data.
struct TzifSpec {
  char version = '2';
  std::vector<std::int64_t> transitions;
  std::vector<std::uint8_t> type_indices;
  std::vector<std::int32_t> offsets = {0};
  std::string footer;
  std::uint32_t leap_count = 0;
};

void put_be(std::string& out, std::uint64_t value, int width) {
  for (int shift = (width - 1) * 8; shift >= 0; shift -= 8) {
    out += static_cast<char>((value >> shift) & 0xff);
  }
}

void put_block(std::string& out, const TzifSpec& spec, int time_size) {
  out += "TZif";
  out += spec.version;
  out.append(15, '\0');
  const auto typecnt = static_cast<std::uint32_t>(spec.offsets.size());
  for (std::uint32_t count :
       {0u, 0u, spec.leap_count, static_cast<std::uint32_t>(spec.transitions.size()), typecnt,
        typecnt * 4}) {
    put_be(out, count, 4);
  }
  for (std::int64_t t : spec.transitions) put_be(out, static_cast<std::uint64_t>(t), time_size);
  for (std::uint8_t index : spec.type_indices) out += static_cast<char>(index);
  for (std::size_t i = 0; i < spec.offsets.size(); ++i) {
    put_be(out, static_cast<std::uint32_t>(spec.offsets[i]), 4);
    out += '\0';
    out += static_cast<char>(i * 4);
  }
  for (std::size_t i = 0; i < spec.offsets.size(); ++i) out.append("ABC\0", 4);
  out.append(static_cast<std::size_t>(spec.leap_count) * (time_size + 4), '\0');
}

std::string tzif(const TzifSpec& spec) {
  std::string out;
  if (spec.version == '\0') {
    put_block(out, spec, 4);
    return out;
  }
  // A version 1 block that disagrees with the real data: it must be skipped.
  TzifSpec decoy;
  decoy.version = spec.version;
  decoy.offsets = {-36000};
  decoy.leap_count = spec.leap_count;
  put_block(out, decoy, 4);
  put_block(out, spec, 8);
  out += '\n' + spec.footer + '\n';
  return out;
}

std::optional<TimeZone> from_tzif(const TzifSpec& spec) {
  std::string error;
  std::optional<TimeZone> tz = TimeZone::from_tzif("Test/Zone", tzif(spec), &error);
  EXPECT_TRUE(tz.has_value()) << error;
  return tz;
}

struct OffsetCase {
  std::string zone;
  std::string instant;
  int offset;
};

TEST(TimeZone, LoadsUtcWithoutTheZoneFiles) {
  const ScopedTzdir no_files("/nonexistent/zoneinfo");
  for (const char* name : {"UTC", "Etc/UTC"}) {
    const std::optional<TimeZone> tz = load(name);
    ASSERT_TRUE(tz.has_value());
    EXPECT_EQ(tz->name(), name);
    EXPECT_EQ(tz->offset_at(at("2025-07-01T00:00:00")), seconds{0});
    const LocalInstants instants = tz->from_local(wall("2025-03-30T02:30:00"));
    EXPECT_EQ(instants.count, 1);
    EXPECT_EQ(instants.first, at("2025-03-30T02:30:00"));
  }
  EXPECT_EQ(load_error("Europe/Berlin"), "unknown time zone \"Europe/Berlin\"");
}

TEST(TimeZone, RejectsNamesThatCouldLeaveTheZoneDirectory) {
  for (const char* name : {"../etc/passwd", "Europe/../../etc/passwd", "/etc/localtime", "",
                           "Europe/Ber lin", "Europe/Berlin.bak", "Europe/Berlin;rm"}) {
    EXPECT_EQ(load_error(name), "invalid time zone name \"" + std::string(name) + "\"");
  }
  // Bytes that would garble a one-line error are escaped.
  EXPECT_EQ(load_error("Europe\\Berlin"), "invalid time zone name \"Europe\\x5cBerlin\"");
  EXPECT_EQ(load_error(std::string("UTC\n", 4)), "invalid time zone name \"UTC\\x0a\"");
}

TEST(TimeZone, ReportsUnknownZones) {
  EXPECT_EQ(load_error("Mars/Base"), "unknown time zone \"Mars/Base\"");
  EXPECT_EQ(load_error("Europe"), "unknown time zone \"Europe\"");
  EXPECT_EQ(load_error("utc"), "unknown time zone \"utc\"");
}

TEST(TimeZone, RefusesZonesThatCountLeapSeconds) {
  if (::access("/usr/share/zoneinfo/right/UTC", R_OK) != 0) {
    GTEST_SKIP() << "no right/ zones installed";
  }
  EXPECT_EQ(load_error("right/UTC"),
            "time zone \"right/UTC\" counts leap seconds, which is not supported; use the zone "
            "without the right/ prefix");
}

TEST(TimeZone, GivesTheOffsetsOfTheTzDatabase) {
  const std::vector<OffsetCase> cases = {
      {"Europe/Berlin", "2025-01-15T12:00:00", 3600},
      {"Europe/Berlin", "2025-07-15T12:00:00", 7200},
      {"Europe/Berlin", "2025-03-30T00:59:59", 3600},
      {"Europe/Berlin", "2025-03-30T01:00:00", 7200},
      {"Europe/Berlin", "2025-10-26T00:59:59", 7200},
      {"Europe/Berlin", "2025-10-26T01:00:00", 3600},
      // Local mean time before the first transition (1893).
      {"Europe/Berlin", "1850-01-01T00:00:00", 3208},
      // Past the listed transitions: only the footer "CET-1CEST,M3.5.0,M10.5.0/3" knows.
      {"Europe/Berlin", "2090-01-15T12:00:00", 3600},
      {"Europe/Berlin", "2090-03-26T00:59:59", 3600},
      {"Europe/Berlin", "2090-03-26T01:00:00", 7200},
      {"Europe/Berlin", "2090-10-29T00:59:59", 7200},
      {"Europe/Berlin", "2090-10-29T01:00:00", 3600},
      {"America/New_York", "2025-01-15T12:00:00", -18000},
      {"America/New_York", "2025-07-15T12:00:00", -14400},
      {"America/New_York", "2090-07-15T12:00:00", -14400},
      {"Asia/Kolkata", "2025-01-15T12:00:00", 19800},
      {"Asia/Kolkata", "2090-07-15T12:00:00", 19800},
      {"Pacific/Chatham", "2025-06-15T12:00:00", 45900},
      {"Pacific/Chatham", "2025-12-15T12:00:00", 49500},
      {"Pacific/Chatham", "2090-06-15T12:00:00", 45900},
      {"Pacific/Chatham", "2090-12-15T12:00:00", 49500},
      {"Australia/Lord_Howe", "2090-06-15T12:00:00", 37800},
      {"Australia/Lord_Howe", "2090-12-15T12:00:00", 39600},
      {"America/Sao_Paulo", "2090-01-15T12:00:00", -10800},
      {"Pacific/Kiritimati", "2025-01-15T12:00:00", 50400},
      {"Pacific/Pago_Pago", "2025-01-15T12:00:00", -39600},
  };
  for (const OffsetCase& c : cases) {
    const std::optional<TimeZone> tz = load(c.zone);
    ASSERT_TRUE(tz.has_value());
    EXPECT_EQ(tz->offset_at(at(c.instant)), seconds{c.offset}) << c.zone << " " << c.instant;
  }
}

TEST(TimeZone, ConvertsUtcToLocalTime) {
  const std::optional<TimeZone> berlin = load("Europe/Berlin");
  ASSERT_TRUE(berlin.has_value());
  EXPECT_EQ(berlin->to_local(at("2025-07-01T10:00:00")), wall("2025-07-01T12:00:00"));
  const std::optional<TimeZone> chatham = load("Pacific/Chatham");
  ASSERT_TRUE(chatham.has_value());
  EXPECT_EQ(chatham->to_local(at("2025-06-01T12:00:00")), wall("2025-06-02T00:45:00"));
}

struct LocalCase {
  std::string zone;
  std::string local;
  int count;
  std::string first;   // count >= 1
  std::string second;  // count == 2; for count == 0 the end of the gap
};

TEST(TimeZone, MapsLocalTimesToNoneOneOrTwoInstants) {
  const std::vector<LocalCase> cases = {
      {"Europe/Berlin", "2025-03-30T01:59:59", 1, "2025-03-30T00:59:59", ""},
      {"Europe/Berlin", "2025-03-30T02:00:00", 0, "", "2025-03-30T01:00:00"},
      {"Europe/Berlin", "2025-03-30T02:30:00", 0, "", "2025-03-30T01:00:00"},
      {"Europe/Berlin", "2025-03-30T03:00:00", 1, "2025-03-30T01:00:00", ""},
      {"Europe/Berlin", "2025-10-26T01:59:59", 1, "2025-10-25T23:59:59", ""},
      {"Europe/Berlin", "2025-10-26T02:00:00", 2, "2025-10-26T00:00:00", "2025-10-26T01:00:00"},
      {"Europe/Berlin", "2025-10-26T02:30:00", 2, "2025-10-26T00:30:00", "2025-10-26T01:30:00"},
      {"Europe/Berlin", "2025-10-26T03:00:00", 1, "2025-10-26T02:00:00", ""},
      {"Europe/Berlin", "2090-03-26T02:30:00", 0, "", "2090-03-26T01:00:00"},
      {"Europe/Berlin", "2090-10-29T02:30:00", 2, "2090-10-29T00:30:00", "2090-10-29T01:30:00"},
      {"America/New_York", "2025-03-09T02:30:00", 0, "", "2025-03-09T07:00:00"},
      {"America/New_York", "2025-11-02T01:30:00", 2, "2025-11-02T05:30:00", "2025-11-02T06:30:00"},
      {"Pacific/Chatham", "2025-09-28T03:00:00", 0, "", "2025-09-27T14:00:00"},
      {"Pacific/Chatham", "2025-04-06T03:00:00", 2, "2025-04-05T13:15:00", "2025-04-05T14:15:00"},
      {"Asia/Kolkata", "2025-01-01T00:00:00", 1, "2024-12-31T18:30:00", ""},
  };
  for (const LocalCase& c : cases) {
    const std::optional<TimeZone> tz = load(c.zone);
    ASSERT_TRUE(tz.has_value());
    const LocalInstants instants = tz->from_local(wall(c.local));
    SCOPED_TRACE(c.zone + " " + c.local);
    ASSERT_EQ(instants.count, c.count);
    if (c.count == 0) {
      EXPECT_EQ(instants.gap_end, at(c.second));
    }
    if (c.count >= 1) {
      EXPECT_EQ(instants.first, at(c.first));
    }
    if (c.count == 2) {
      EXPECT_EQ(instants.second, at(c.second));
    }
  }
}

TEST(TimeZone, ReadsVersion1Files) {
  TzifSpec spec;
  spec.version = '\0';
  spec.transitions = {1'000'000'000};  // 2001-09-09T01:46:40Z
  spec.type_indices = {1};
  spec.offsets = {3600, 7200};
  const std::optional<TimeZone> tz = from_tzif(spec);
  ASSERT_TRUE(tz.has_value());
  EXPECT_EQ(tz->offset_at(at("2001-09-09T01:46:39")), seconds{3600});
  EXPECT_EQ(tz->offset_at(at("2001-09-09T01:46:40")), seconds{7200});
  // No footer: the last offset holds for ever.
  EXPECT_EQ(tz->offset_at(at("2090-01-01T00:00:00")), seconds{7200});
}

TEST(TimeZone, ReadsThe64BitDataOfVersion2And3Files) {
  for (char version : {'2', '3'}) {
    TzifSpec spec;
    spec.version = version;
    spec.transitions = {-3'000'000'000};  // 1874, beyond 32 bits
    spec.type_indices = {1};
    spec.offsets = {600, -5400};
    const std::optional<TimeZone> tz = from_tzif(spec);
    ASSERT_TRUE(tz.has_value());
    EXPECT_EQ(tz->offset_at(at("1870-01-01T00:00:00")), seconds{600});
    EXPECT_EQ(tz->offset_at(at("1900-01-01T00:00:00")), seconds{-5400});
  }
}

struct FooterCase {
  std::string footer;
  std::string instant;
  int offset;
};

TEST(TimeZone, FollowsEveryKindOfFooterRule) {
  const std::vector<FooterCase> cases = {
      {"<+0545>-5:45", "2030-01-01T00:00:00", 20700},
      {"<-03>3", "2030-07-01T00:00:00", -10800},
      // Zero-based day 59 is February 29 in leap years, March 1 otherwise.
      {"AAA0BBB,59/0,300/0", "2028-02-28T23:59:59", 0},
      {"AAA0BBB,59/0,300/0", "2028-02-29T00:00:00", 3600},
      {"AAA0BBB,59/0,300/0", "2027-02-28T23:59:59", 0},
      {"AAA0BBB,59/0,300/0", "2027-03-01T00:00:00", 3600},
      // Jn never counts February 29: J60 is March 1 every year.
      {"AAA0BBB,J60/0,J300/0", "2028-02-29T23:59:59", 0},
      {"AAA0BBB,J60/0,J300/0", "2028-03-01T00:00:00", 3600},
      // Explicit DST offset, and version 3 rule times below 0h and above 24h.
      {"AAA0BBB-2,M3.5.0/-1,M10.5.0/26", "2030-03-30T22:59:59", 0},
      {"AAA0BBB-2,M3.5.0/-1,M10.5.0/26", "2030-03-30T23:00:00", 7200},
      {"AAA0BBB-2,M3.5.0/-1,M10.5.0/26", "2030-10-27T23:59:59", 7200},
      {"AAA0BBB-2,M3.5.0/-1,M10.5.0/26", "2030-10-28T00:00:00", 0},
      // Daylight saving time all year.
      {"EST5EDT,0/0,J365/25", "2030-01-01T00:00:00", -14400},
      {"EST5EDT,0/0,J365/25", "2030-07-01T00:00:00", -14400},
      {"EST5EDT,0/0,J365/25", "2030-12-31T23:59:59", -14400},
      // Southern hemisphere: DST spans the new year.
      {"<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45", "2090-01-01T00:00:00", 49500},
      {"<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45", "2090-06-01T00:00:00", 45900},
  };
  for (const FooterCase& c : cases) {
    TzifSpec spec;
    spec.footer = c.footer;
    const std::optional<TimeZone> tz = from_tzif(spec);
    ASSERT_TRUE(tz.has_value()) << c.footer;
    EXPECT_EQ(tz->offset_at(at(c.instant)), seconds{c.offset}) << c.footer << " " << c.instant;
  }
}

TEST(TimeZone, HandsOverFromTheListedTransitionsToTheFooter) {
  TzifSpec spec;
  spec.transitions = {at("2000-01-01T00:00:00").time_since_epoch().count()};
  spec.type_indices = {1};
  spec.offsets = {0, 3600};
  spec.footer = "AAA-1BBB,M3.5.0,M10.5.0/3";
  const std::optional<TimeZone> tz = from_tzif(spec);
  ASSERT_TRUE(tz.has_value());
  EXPECT_EQ(tz->offset_at(at("1999-12-31T23:59:59")), seconds{0});
  EXPECT_EQ(tz->offset_at(at("2000-01-01T00:00:00")), seconds{3600});
  EXPECT_EQ(tz->offset_at(at("2000-07-01T00:00:00")), seconds{7200});
  const LocalInstants gap = tz->from_local(wall("2000-03-26T02:30:00"));
  EXPECT_EQ(gap.count, 0);
  EXPECT_EQ(gap.gap_end, at("2000-03-26T01:00:00"));
}

struct MalformedCase {
  std::string data;
  std::string message;
};

TEST(TimeZone, RejectsBrokenTzifData) {
  TzifSpec good;
  good.transitions = {100};
  good.type_indices = {0};
  const std::string valid = tzif(good);
  TzifSpec bad_footer = good;
  bad_footer.footer = "garbage";
  TzifSpec bad_index = good;
  bad_index.type_indices = {7};
  TzifSpec unordered = good;
  unordered.transitions = {200, 100};
  unordered.type_indices = {0, 0};
  TzifSpec leap = good;
  leap.leap_count = 1;
  const std::vector<MalformedCase> cases = {
      {"", "time zone \"Test/Zone\": not a TZif file"},
      {"# tzdata leap seconds\n", "time zone \"Test/Zone\": not a TZif file"},
      {valid.substr(0, 30), "time zone \"Test/Zone\": malformed TZif data (truncated header)"},
      {valid.substr(0, valid.size() - 20),
       "time zone \"Test/Zone\": malformed TZif data (truncated data)"},
      {valid.substr(0, valid.size() - 1),
       "time zone \"Test/Zone\": malformed TZif data (unterminated footer)"},
      {tzif(bad_footer), "time zone \"Test/Zone\": malformed TZif data (bad footer \"garbage\")"},
      {tzif(bad_index), "time zone \"Test/Zone\": malformed TZif data (bad type index)"},
      {tzif(unordered), "time zone \"Test/Zone\": malformed TZif data (transitions out of order)"},
      {tzif(leap),
       "time zone \"Test/Zone\" counts leap seconds, which is not supported; use the zone "
       "without the right/ prefix"},
  };
  for (const MalformedCase& c : cases) {
    std::string error;
    EXPECT_FALSE(TimeZone::from_tzif("Test/Zone", c.data, &error).has_value()) << c.message;
    EXPECT_EQ(error, c.message);
  }
}

TEST(TimeZone, LoadsZoneFilesFromTzdir) {
  std::string dir_template = ::testing::TempDir() + "triggerd-tz-XXXXXX";
  const char* dir = ::mkdtemp(dir_template.data());
  ASSERT_NE(dir, nullptr);
  const std::string sub = std::string(dir) + "/Test";
  ASSERT_EQ(::mkdir(sub.c_str(), 0700), 0);
  const std::string file = sub + "/Zone";
  TzifSpec spec;
  spec.offsets = {-25200};
  spec.footer = "<-07>7";
  {
    std::ofstream out(file, std::ios::binary);
    out << tzif(spec);
  }
  {
    const ScopedTzdir custom(dir);
    const std::optional<TimeZone> tz = load("Test/Zone");
    ASSERT_TRUE(tz.has_value());
    EXPECT_EQ(tz->name(), "Test/Zone");
    EXPECT_EQ(tz->offset_at(at("2025-01-01T00:00:00")), seconds{-25200});
  }
  std::remove(file.c_str());
  ::rmdir(sub.c_str());
  ::rmdir(dir);
}

}  // namespace
}  // namespace triggerd::cron
