#include "connectors/cron/cron_schedule.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "connectors/cron/test_timestamps.hpp"

namespace triggerd::cron {
namespace {

using std::chrono::sys_seconds;

using test::at;
using test::iso;

TimeZone zone(const std::string& name) {
  std::string error;
  std::optional<TimeZone> tz = TimeZone::load(name, &error);
  EXPECT_TRUE(tz.has_value()) << error;
  return tz ? *tz : TimeZone::utc();
}

Schedule schedule(const std::string& expression) {
  std::string error;
  std::optional<Schedule> parsed = Schedule::parse(expression, &error);
  EXPECT_TRUE(parsed.has_value()) << expression << ": " << error;
  return parsed ? *parsed : *Schedule::parse("* * * * *", nullptr);
}

// The next `expected.size()` fire times after `start`, each fed back as the next `after`,
// as the cron source will do.
std::vector<std::string> fire_times(const std::string& expression, const std::string& zone_name,
                                    const std::string& start, std::size_t count) {
  const Schedule s = schedule(expression);
  const TimeZone tz = zone(zone_name);
  std::vector<std::string> times;
  sys_seconds t = at(start);
  for (std::size_t i = 0; i < count; ++i) {
    t = s.next_after(t, tz);
    times.push_back(iso(t));
  }
  return times;
}

struct ParseErrorCase {
  std::string expression;
  std::string message;
};

TEST(CronSchedule, RejectsMalformedExpressionsWithPreciseMessages) {
  const std::vector<ParseErrorCase> cases = {
      {"", "schedule is empty"},
      {"   ", "schedule is empty"},
      {"* * *", "expected 5 or 6 fields, got 3"},
      {"* * * * * * *", "expected 5 or 6 fields, got 7"},
      {"61 * * * *", "minute field: 61 is out of range 0-59"},
      {"60 * * * * *", "second field: 60 is out of range 0-59"},
      {"* 24 * * *", "hour field: 24 is out of range 0-23"},
      {"* * 0 * *", "day-of-month field: 0 is out of range 1-31"},
      {"* * 32 * *", "day-of-month field: 32 is out of range 1-31"},
      {"* * * 13 *", "month field: 13 is out of range 1-12"},
      {"* * * 0 *", "month field: 0 is out of range 1-12"},
      {"* * * * 8", "day-of-week field: 8 is out of range 0-7"},
      {"99999999999 * * * *", "minute field: 99999999999 is out of range 0-59"},
      {"* * * * FUNDAY", "day-of-week field: unknown name \"FUNDAY\""},
      {"* * * Janu *", "month field: unknown name \"Janu\""},
      {"MON * * * *", "minute field: \"MON\" is not a number"},
      {"1x * * * *", "minute field: \"1x\" is not a number"},
      {"*/0 * * * *", "minute field: step must be at least 1"},
      {"* 1-10/0 * * *", "hour field: step must be at least 1"},
      {"*/x * * * *", "minute field: step \"x\" is not a number"},
      {"*/ * * * *", "minute field: step \"\" is not a number"},
      {"* 10-5 * * *", "hour field: range 10-5 is backwards"},
      {"* * * * FRI-MON", "day-of-week field: range FRI-MON is backwards"},
      {"1,,2 * * * *", "minute field: empty list item"},
      {"1, * * * *", "minute field: empty list item"},
      {"1-2-3 * * * *", "minute field: \"1-2-3\" is not a valid range"},
      {"-5 * * * *", "minute field: \"-5\" is not a valid range"},
      {"/5 * * * *", "minute field: \"/5\" has no start value"},
      {"0 0 30 2 *", "never fires (no such date)"},
      {"0 0 31 APR,JUN,SEP,NOV *", "never fires (no such date)"},
      {"@every", "@every needs a duration with a unit, e.g. @every 10s"},
      {"@every 10", "@every needs a duration with a unit, e.g. @every 10s"},
      {"@every s", "@every needs a duration with a unit, e.g. @every 10s"},
      {"@every 1m30", "@every needs a duration with a unit, e.g. @every 10s"},
      {"@every 500ms", "@every: unknown unit \"ms\", use h, m or s"},
      {"@every 1d", "@every: unknown unit \"d\", use h, m or s"},
      {"@every 0s", "@every interval must be at least 1s"},
      {"@every 0h0m", "@every interval must be at least 1s"},
      {"@every 1m 30s", "@every takes a single duration, e.g. @every 1m30s"},
      {"@every 99999999999999h", "@every duration is too long"},
      {"@daily 5", "@daily takes no arguments"},
      {"@fortnightly", "unknown macro \"@fortnightly\""},
      {"* * * * MON\x01", "day-of-week field: unknown name \"MON\\x01\""},
  };
  for (const ParseErrorCase& c : cases) {
    std::string error;
    EXPECT_FALSE(Schedule::parse(c.expression, &error).has_value()) << c.expression;
    EXPECT_EQ(error, c.message) << c.expression;
  }
}

TEST(CronSchedule, ReportsFailureWithoutAnErrorString) {
  EXPECT_FALSE(Schedule::parse("61 * * * *", nullptr).has_value());
}

TEST(CronSchedule, AcceptsEveryFieldForm) {
  for (const char* expression :
       {"* * * * *", "* * * * * *", "0 0 29 2 *", "0 0 31 * *", "0-59/1 0-23 1-31 1-12 0-7",
        "0 0 * jan-dec sun-sat", "0 0 * * 1-5/2", "  0  0\t* * *  ", "@YEARLY", "@Every 1h"}) {
    std::string error;
    EXPECT_TRUE(Schedule::parse(expression, &error).has_value()) << expression << ": " << error;
  }
}

struct SequenceCase {
  std::string name;
  std::string expression;
  std::string zone;
  std::string start;
  std::vector<std::string> expected;
};

void expect_sequences(const std::vector<SequenceCase>& cases) {
  for (const SequenceCase& c : cases) {
    EXPECT_EQ(fire_times(c.expression, c.zone, c.start, c.expected.size()), c.expected)
        << c.name << ": \"" << c.expression << "\" in " << c.zone << " after " << c.start;
  }
}

TEST(CronSchedule, FiresAtTheTimesTheFieldsDescribe) {
  expect_sequences({
      {"steps from star",
       "*/15 * * * *",
       "UTC",
       "2025-01-01T00:07:00Z",
       {"2025-01-01T00:15:00Z", "2025-01-01T00:30:00Z", "2025-01-01T00:45:00Z",
        "2025-01-01T01:00:00Z"}},
      {"stepped range",
       "10-50/10 * * * *",
       "UTC",
       "2025-01-01T00:45:00Z",
       {"2025-01-01T00:50:00Z", "2025-01-01T01:10:00Z", "2025-01-01T01:20:00Z"}},
      {"start and step",
       "5/15 * * * *",
       "UTC",
       "2025-01-01T00:40:00Z",
       {"2025-01-01T00:50:00Z", "2025-01-01T01:05:00Z", "2025-01-01T01:20:00Z"}},
      {"list",
       "0 1,5,9 * * *",
       "UTC",
       "2025-01-01T04:00:00Z",
       {"2025-01-01T05:00:00Z", "2025-01-01T09:00:00Z", "2025-01-02T01:00:00Z"}},
      {"six fields put seconds first",
       "30 0 12 * * *",
       "UTC",
       "2025-01-01T12:00:30Z",
       {"2025-01-02T12:00:30Z", "2025-01-03T12:00:30Z"}},
      {"weekday range skips the weekend",
       "0 9 * * MON-FRI",
       "UTC",
       "2025-01-03T10:00:00Z",
       {"2025-01-06T09:00:00Z", "2025-01-07T09:00:00Z"}},
      {"names ignore case",
       "0 0 1 jan,Jul *",
       "UTC",
       "2025-01-01T00:00:00Z",
       {"2025-07-01T00:00:00Z", "2026-01-01T00:00:00Z"}},
      {"day 7 is Sunday",
       "0 0 * * 7",
       "UTC",
       "2025-01-01T00:00:00Z",
       {"2025-01-05T00:00:00Z", "2025-01-12T00:00:00Z"}},
      {"day 0 is Sunday",
       "0 0 * * 0",
       "UTC",
       "2025-01-01T00:00:00Z",
       {"2025-01-05T00:00:00Z", "2025-01-12T00:00:00Z"}},
      {"day range to 7 ends on Sunday",
       "0 0 * * 5-7",
       "UTC",
       "2025-01-01T00:00:00Z",
       {"2025-01-03T00:00:00Z", "2025-01-04T00:00:00Z", "2025-01-05T00:00:00Z",
        "2025-01-10T00:00:00Z"}},
      {"day 31 skips short months",
       "0 0 31 * *",
       "UTC",
       "2025-01-31T00:00:01Z",
       {"2025-03-31T00:00:00Z", "2025-05-31T00:00:00Z", "2025-07-31T00:00:00Z"}},
      {"year rolls over",
       "0 0 1 1 *",
       "UTC",
       "2025-06-01T00:00:00Z",
       {"2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"}},
      {"last second of the year",
       "59 59 23 31 12 *",
       "UTC",
       "2025-01-01T00:00:00Z",
       {"2025-12-31T23:59:59Z", "2026-12-31T23:59:59Z"}},
  });
}

TEST(CronSchedule, SixStarsFireEveryWholeSecond) {
  const Schedule every_second = schedule("* * * * * *");
  const TimeZone tz = TimeZone::utc();
  sys_seconds t = at("2025-12-31T23:59:58Z");
  for (int i = 1; i <= 5; ++i) {
    const sys_seconds next = every_second.next_after(t, tz);
    EXPECT_EQ(next - t, std::chrono::seconds{1}) << iso(t);
    t = next;
  }
  EXPECT_EQ(iso(t), "2026-01-01T00:00:03Z");
}

TEST(CronSchedule, FiresStrictlyAfterTheGivenInstant) {
  const Schedule s = schedule("0 * * * *");
  EXPECT_EQ(iso(s.next_after(at("2025-01-01T10:00:00Z"), TimeZone::utc())), "2025-01-01T11:00:00Z");
  EXPECT_EQ(iso(s.next_after(at("2025-01-01T09:59:59Z"), TimeZone::utc())), "2025-01-01T10:00:00Z");
}

TEST(CronSchedule, MatchesEitherDayFieldWhenBothAreRestricted) {
  expect_sequences({
      // Fridays and the 13th: Jan 2025 has Fridays 3, 10, 17 and the 13th is a Monday.
      {"both restricted",
       "0 0 13 * FRI",
       "UTC",
       "2025-01-01T00:00:00Z",
       {"2025-01-03T00:00:00Z", "2025-01-10T00:00:00Z", "2025-01-13T00:00:00Z",
        "2025-01-17T00:00:00Z"}},
      // A stepped day-of-month is still a restriction: days 1, 11, 21, 31 or Mondays.
      {"stepped day of month",
       "0 0 */10 * MON",
       "UTC",
       "2025-01-01T00:00:00Z",
       {"2025-01-06T00:00:00Z", "2025-01-11T00:00:00Z", "2025-01-13T00:00:00Z",
        "2025-01-20T00:00:00Z", "2025-01-21T00:00:00Z", "2025-01-27T00:00:00Z",
        "2025-01-31T00:00:00Z", "2025-02-01T00:00:00Z"}},
      {"only day of month",
       "0 0 13 * *",
       "UTC",
       "2025-01-01T00:00:00Z",
       {"2025-01-13T00:00:00Z", "2025-02-13T00:00:00Z"}},
      {"only day of week",
       "0 0 * * FRI",
       "UTC",
       "2025-01-01T00:00:00Z",
       {"2025-01-03T00:00:00Z", "2025-01-10T00:00:00Z"}},
      // The OR rule makes a day-of-month that never exists harmless.
      {"impossible date or a weekday",
       "0 0 30 2 MON",
       "UTC",
       "2025-02-01T00:00:00Z",
       {"2025-02-03T00:00:00Z", "2025-02-10T00:00:00Z"}},
  });
}

TEST(CronSchedule, ExpandsMacros) {
  expect_sequences({
      {"yearly", "@yearly", "UTC", "2025-03-04T05:06:07Z", {"2026-01-01T00:00:00Z"}},
      {"annually", "@annually", "UTC", "2025-03-04T05:06:07Z", {"2026-01-01T00:00:00Z"}},
      {"monthly", "@monthly", "UTC", "2025-03-04T05:06:07Z", {"2025-04-01T00:00:00Z"}},
      {"weekly is Sunday midnight",
       "@weekly",
       "UTC",
       "2025-03-04T05:06:07Z",
       {"2025-03-09T00:00:00Z", "2025-03-16T00:00:00Z"}},
      {"daily", "@daily", "UTC", "2025-03-04T05:06:07Z", {"2025-03-05T00:00:00Z"}},
      {"midnight", "@midnight", "UTC", "2025-03-04T05:06:07Z", {"2025-03-05T00:00:00Z"}},
      {"hourly", "@hourly", "UTC", "2025-03-04T05:06:07Z", {"2025-03-04T06:00:00Z"}},
      {"daily in the zone",
       "@daily",
       "Asia/Kolkata",
       "2025-03-04T05:06:07Z",
       {"2025-03-04T18:30:00Z"}},
  });
}

TEST(CronSchedule, EveryFiresAtMultiplesOfTheIntervalSinceTheEpoch) {
  expect_sequences({
      {"minutes",
       "@every 15m",
       "UTC",
       "2025-01-01T00:07:13Z",
       {"2025-01-01T00:15:00Z", "2025-01-01T00:30:00Z", "2025-01-01T00:45:00Z"}},
      {"on a boundary goes to the next",
       "@every 15m",
       "UTC",
       "2025-01-01T00:15:00Z",
       {"2025-01-01T00:30:00Z"}},
      {"compound",
       "@every 1m30s",
       "UTC",
       "1970-01-01T00:01:40Z",
       {"1970-01-01T00:03:00Z", "1970-01-01T00:04:30Z"}},
      {"hours", "@every 2h", "UTC", "2025-01-01T01:00:00Z", {"2025-01-01T02:00:00Z"}},
      // 1000 = 142 * 7 + 6, so the next multiple of 7 is 1001.
      {"odd seconds", "@every 7s", "UTC", "1970-01-01T00:16:40Z", {"1970-01-01T00:16:41Z"}},
      {"before the epoch",
       "@every 1h",
       "UTC",
       "1969-12-31T22:30:00Z",
       {"1969-12-31T23:00:00Z", "1970-01-01T00:00:00Z"}},
  });
}

TEST(CronSchedule, EveryIgnoresTheTimeZone) {
  const Schedule s = schedule("@every 1h");
  const sys_seconds after = at("2025-03-30T00:20:00Z");
  const sys_seconds in_utc = s.next_after(after, TimeZone::utc());
  EXPECT_EQ(iso(in_utc), "2025-03-30T01:00:00Z");
  for (const char* name : {"Asia/Kolkata", "Pacific/Chatham", "Europe/Berlin"}) {
    EXPECT_EQ(s.next_after(after, zone(name)), in_utc) << name;
  }
  EXPECT_EQ(s.interval(), std::chrono::hours{1});
  EXPECT_EQ(schedule("@every 1m30s").interval(), std::chrono::seconds{90});
  EXPECT_EQ(schedule("0 * * * *").interval(), std::chrono::seconds{0});
}

TEST(CronSchedule, FiresOnLeapDay) {
  expect_sequences({
      {"next leap years",
       "0 0 29 2 *",
       "UTC",
       "2025-01-01T00:00:00Z",
       {"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
      {"2100 is not a leap year",
       "0 0 29 2 *",
       "UTC",
       "2096-03-01T00:00:00Z",
       {"2104-02-29T00:00:00Z"}},
      {"2000 is a leap year",
       "0 0 29 2 *",
       "UTC",
       "1999-01-01T00:00:00Z",
       {"2000-02-29T00:00:00Z"}},
  });
}

TEST(CronSchedule, FiresOnceAfterTheSpringForwardGap) {
  expect_sequences({
      // Berlin, 2025-03-30: 02:00 CET jumps to 03:00 CEST (01:00Z).
      {"Berlin daily 02:30",
       "30 2 * * *",
       "Europe/Berlin",
       "2025-03-29T02:00:00Z",
       {"2025-03-30T01:00:00Z", "2025-03-31T00:30:00Z"}},
      {"Berlin matches in the gap collapse",
       "*/15 2 * * *",
       "Europe/Berlin",
       "2025-03-29T01:50:00Z",
       {"2025-03-30T01:00:00Z", "2025-03-31T00:00:00Z", "2025-03-31T00:15:00Z"}},
      {"Berlin gap and 03:00 are one fire",
       "0,30 2,3 * * *",
       "Europe/Berlin",
       "2025-03-30T00:30:00Z",
       {"2025-03-30T01:00:00Z", "2025-03-30T01:30:00Z"}},
      {"Berlin every second",
       "* * * * * *",
       "Europe/Berlin",
       "2025-03-30T00:59:58Z",
       {"2025-03-30T00:59:59Z", "2025-03-30T01:00:00Z", "2025-03-30T01:00:01Z"}},
      // New York, 2025-03-09: 02:00 EST jumps to 03:00 EDT (07:00Z).
      {"New York daily 02:30",
       "30 2 * * *",
       "America/New_York",
       "2025-03-08T12:00:00Z",
       {"2025-03-09T07:00:00Z", "2025-03-10T06:30:00Z"}},
      // Chatham, 2025-09-28: 02:45 +1245 jumps to 03:45 +1345 (14:00Z).
      {"Chatham daily 03:00",
       "0 3 * * *",
       "Pacific/Chatham",
       "2025-09-26T12:00:00Z",
       {"2025-09-26T14:15:00Z", "2025-09-27T14:00:00Z", "2025-09-28T13:15:00Z"}},
  });
}

TEST(CronSchedule, FiresOnlyAtTheFirstOccurrenceOfARepeatedTime) {
  expect_sequences({
      // Berlin, 2025-10-26: 03:00 CEST falls back to 02:00 CET (01:00Z).
      {"Berlin daily 02:30",
       "30 2 * * *",
       "Europe/Berlin",
       "2025-10-25T12:00:00Z",
       {"2025-10-26T00:30:00Z", "2025-10-27T01:30:00Z"}},
      {"Berlin hourly",
       "0 * * * *",
       "Europe/Berlin",
       "2025-10-25T23:30:00Z",
       {"2025-10-26T00:00:00Z", "2025-10-26T02:00:00Z", "2025-10-26T03:00:00Z"}},
      {"Berlin every second skips the repeated hour",
       "* * * * * *",
       "Europe/Berlin",
       "2025-10-26T00:59:58Z",
       {"2025-10-26T00:59:59Z", "2025-10-26T02:00:00Z"}},
      // New York, 2025-11-02: 02:00 EDT falls back to 01:00 EST (06:00Z).
      {"New York daily 01:30",
       "30 1 * * *",
       "America/New_York",
       "2025-11-01T12:00:00Z",
       {"2025-11-02T05:30:00Z", "2025-11-03T06:30:00Z"}},
  });
  // Asked from inside the second pass, the repeated time is already over.
  const Schedule s = schedule("30 2 * * *");
  EXPECT_EQ(iso(s.next_after(at("2025-10-26T01:10:00Z"), zone("Europe/Berlin"))),
            "2025-10-27T01:30:00Z");
}

TEST(CronSchedule, FollowsZonesFarEastAndWest) {
  expect_sequences({
      {"Kolkata +05:30",
       "0 9 * * *",
       "Asia/Kolkata",
       "2025-06-01T00:00:00Z",
       {"2025-06-01T03:30:00Z", "2025-06-02T03:30:00Z"}},
      {"Chatham +12:45 in winter",
       "0 9 * * *",
       "Pacific/Chatham",
       "2025-06-01T00:00:00Z",
       {"2025-06-01T20:15:00Z"}},
      {"Chatham +13:45 in summer",
       "0 9 * * *",
       "Pacific/Chatham",
       "2025-12-01T00:00:00Z",
       {"2025-12-01T19:15:00Z"}},
      {"Kiritimati +14 new year",
       "@yearly",
       "Pacific/Kiritimati",
       "2025-06-01T00:00:00Z",
       {"2025-12-31T10:00:00Z"}},
      {"Pago Pago -11 new year",
       "@yearly",
       "Pacific/Pago_Pago",
       "2025-06-01T00:00:00Z",
       {"2026-01-01T11:00:00Z"}},
      // Local Monday begins on Sunday in UTC.
      {"Kiritimati weekday",
       "0 8 * * MON",
       "Pacific/Kiritimati",
       "2025-01-01T00:00:00Z",
       {"2025-01-05T18:00:00Z"}},
  });
}

TEST(CronSchedule, UsesTheZoneRuleForYearsPastTheListedTransitions) {
  expect_sequences({
      // 2090: DST from Sunday March 26 to Sunday October 29, known only from the footer.
      {"Berlin 2090 spring",
       "30 2 * * *",
       "Europe/Berlin",
       "2090-03-25T12:00:00Z",
       {"2090-03-26T01:00:00Z", "2090-03-27T00:30:00Z"}},
      {"Berlin 2090 fall",
       "30 2 * * *",
       "Europe/Berlin",
       "2090-10-28T12:00:00Z",
       {"2090-10-29T00:30:00Z", "2090-10-30T01:30:00Z"}},
      {"Berlin 2090 summer noon",
       "0 12 1 7 *",
       "Europe/Berlin",
       "2090-01-01T00:00:00Z",
       {"2090-07-01T10:00:00Z"}},
  });
}

TEST(CronSchedule, AnswersQuicklyForSparseSchedules) {
  // Walking second by second would take minutes; field by field it is instant.
  const Schedule leap_day = schedule("59 59 23 29 2 *");
  const TimeZone berlin = zone("Europe/Berlin");
  sys_seconds t = at("2025-01-01T00:00:00Z");
  for (int i = 0; i < 50; ++i) t = leap_day.next_after(t, berlin);
  EXPECT_EQ(iso(t), "2232-02-29T22:59:59Z");
}

TEST(CronSchedule, GivesUpOnlyPastTheYear9999) {
  const Schedule leap_day = schedule("0 0 29 2 *");
  EXPECT_EQ(iso(leap_day.next_after(at("9995-01-01T00:00:00Z"), TimeZone::utc())),
            "9996-02-29T00:00:00Z");
  EXPECT_EQ(leap_day.next_after(at("9996-03-01T00:00:00Z"), TimeZone::utc()), sys_seconds::max());
  EXPECT_EQ(schedule("@every 1s").next_after(sys_seconds::max(), TimeZone::utc()),
            sys_seconds::max());
}

}  // namespace
}  // namespace triggerd::cron
