#include "broker/logging.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <regex>
#include <string>

namespace triggerd::logging {
namespace {

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
  configure({.level = config::LogLevel::info, .format = config::LogFormat::json});
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
  EXPECT_TRUE(std::regex_match(time, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
      << time;
}

TEST(Logging, LevelAppliesToLoggersMadeBeforeAndAfter) {
  auto before = get("before-configure");
  configure({.level = config::LogLevel::error, .format = config::LogFormat::text});
  auto after = get("after-configure");
  testing::internal::CaptureStderr();
  before->warn("hidden");
  after->warn("hidden too");
  after->error("shown");
  const std::string out = testing::internal::GetCapturedStderr();
  configure({});

  EXPECT_EQ(out.find("hidden"), std::string::npos) << out;
  EXPECT_TRUE(std::regex_search(
      out,
      std::regex(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z error \[after-configure\] shown\n$)")))
      << out;
}

TEST(Logging, GetReturnsTheSameLoggerForTheSameName) {
  EXPECT_EQ(get("dispatcher").get(), get("dispatcher").get());
  EXPECT_EQ(get("dispatcher")->name(), "dispatcher");
}

}  // namespace
}  // namespace triggerd::logging
