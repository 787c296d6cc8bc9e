#include "config/units.hpp"

#include <gtest/gtest.h>

namespace triggerd::config {
namespace {

TEST(Durations, ReadEachUnitAndCompounds) {
  EXPECT_EQ(parse_duration("250ms"), Duration(250));
  EXPECT_EQ(parse_duration("5s"), Duration(5'000));
  EXPECT_EQ(parse_duration("2m"), Duration(120'000));
  EXPECT_EQ(parse_duration("1h"), Duration(3'600'000));
  EXPECT_EQ(parse_duration("1h30m"), Duration(5'400'000));
  EXPECT_EQ(parse_duration("1m30s500ms"), Duration(90'500));
  EXPECT_EQ(parse_duration("0s"), Duration(0));
}

TEST(Durations, RefuseBareNumbersUnknownUnitsAndDisorder) {
  for (const char* bad : {"", "30", "5 s", "5sec", "1.5s", "-1s", "s", "30s1m", "1s1s", "5ms2s"}) {
    EXPECT_EQ(parse_duration(bad), std::nullopt) << bad;
  }
}

TEST(Durations, FormatTheShortestExactSpelling) {
  EXPECT_EQ(format_duration(Duration(90'000)), "1m30s");
  EXPECT_EQ(format_duration(Duration(250)), "250ms");
  EXPECT_EQ(format_duration(Duration(0)), "0s");
  EXPECT_EQ(format_duration(Duration(3'600'001)), "1h1ms");
}

TEST(Sizes, ReadBinaryAndDecimalUnits) {
  EXPECT_EQ(parse_size("512KiB"), 512u * 1024);
  EXPECT_EQ(parse_size("1MiB"), 1024u * 1024);
  EXPECT_EQ(parse_size("2GiB"), 2ull << 30);
  EXPECT_EQ(parse_size("10KB"), 10'000u);
  EXPECT_EQ(parse_size("100B"), 100u);
}

TEST(Sizes, RefuseMissingOrUnknownUnits) {
  for (const char* bad : {"", "1024", "1 MiB", "1mib", "1MiB2", "KiB", "99999999999999999999GiB"}) {
    EXPECT_EQ(parse_size(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace triggerd::config
