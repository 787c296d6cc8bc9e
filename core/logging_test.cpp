#include "core/logging.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <string>

namespace triggerd::logging {
namespace {

// "2026-01-31T23:59:59.123Z": UTC, milliseconds. (No std::regex: g++ 12 warns inside it
// under -O2 with sanitizers, and warnings are errors.)
bool is_utc_millis_time(std::string_view text) {
  constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (text.size() != kShape.size()) return false;
  for (std::size_t i = 0; i < kShape.size(); ++i) {
    const bool digit = text[i] >= '0' && text[i] <= '9';
    if (kShape[i] == 'd' ? !digit : text[i] != kShape[i]) return false;
  }
  return true;
}

std::string json_string(std::string_view text) {
  std::string out;
  append_json_string(text, out);
  return out;
}

TEST(AppendJsonString, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(json_string("plain"), R"("plain")");
  EXPECT_EQ(json_string("say \"hi\"\\"), R"("say \"hi\"\\")");
  EXPECT_EQ(json_string("a\nb\tc\rd"), R"("a\nb\tc\rd")");
  EXPECT_EQ(json_string(std::string_view("\x01\x1f\0", 3)), R"("\u0001\u001f\u0000")");
}

TEST(AppendJsonString, KeepsValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  EXPECT_EQ(json_string("bad \xff end"), R"("bad \ufffd end")");
  EXPECT_EQ(json_string("cut \xe2\x82"), R"("cut \ufffd\ufffd")");
  EXPECT_EQ(json_string("overlong \xc0\xaf"), R"("overlong \ufffd\ufffd")");
  EXPECT_EQ(json_string("surrogate \xed\xa0\x80"), R"("surrogate \ufffd\ufffd\ufffd")");
}

TEST(Logging, JsonFormatWritesOneParsableObjectPerLine) {
  configure({.level = Level::info, .format = Format::json});
  auto log = get("admin");
  testing::internal::CaptureStderr();
  log->warn("quote \" newline \n tab \t done");
  log->debug("below the level");
  const std::string out = testing::internal::GetCapturedStderr();
  configure({});

  ASSERT_FALSE(out.empty());
  ASSERT_EQ(out.back(), '\n');
  ASSERT_EQ(out.find('\n'), out.size() - 1) << "exactly one line: " << out;
  const boost::json::value line = boost::json::parse(out);
  EXPECT_EQ(line.at("level").as_string(), "warning");
  EXPECT_EQ(line.at("logger").as_string(), "admin");
  EXPECT_EQ(line.at("msg").as_string(), "quote \" newline \n tab \t done");
  const std::string time(line.at("time").as_string());
  EXPECT_TRUE(is_utc_millis_time(time)) << time;
}

TEST(Logging, LevelAppliesToLoggersMadeBeforeAndAfter) {
  auto before = get("before-configure");
  configure({.level = Level::error, .format = Format::text});
  auto after = get("after-configure");
  testing::internal::CaptureStderr();
  before->warn("hidden");
  after->warn("hidden too");
  after->error("shown");
  const std::string out = testing::internal::GetCapturedStderr();
  configure({});

  EXPECT_EQ(out.find("hidden"), std::string::npos) << out;
  constexpr std::string_view kRest = " error [after-configure] shown\n";
  ASSERT_EQ(out.size(), 24 + kRest.size()) << out;
  EXPECT_TRUE(is_utc_millis_time(std::string_view(out).substr(0, 24))) << out;
  EXPECT_EQ(out.substr(24), kRest);
}

TEST(Logging, GetReturnsTheSameLoggerForTheSameName) {
  EXPECT_EQ(get("dispatcher").get(), get("dispatcher").get());
  EXPECT_EQ(get("dispatcher")->name(), "dispatcher");
}

}  // namespace
}  // namespace triggerd::logging
