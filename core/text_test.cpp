#include "core/text.hpp"

#include <gtest/gtest.h>

#include <string>

namespace triggerd {
namespace {

using namespace std::string_literals;

struct QuoteCase {
  std::string text;
  std::string expected;
};

TEST(Quote, EscapesEveryByteThatCouldBreakTheOneLineMessage) {
  const QuoteCase cases[] = {
      {"", R"("")"},
      {"Europe/Berlin", R"("Europe/Berlin")"},
      {"MON\x01", R"("MON\x01")"},
      {"UTC\n", R"("UTC\x0a")"},
      {"a\0b"s, R"("a\x00b")"},
      {"\x1b[2J", R"("\x1b[2J")"},
      {"del\x7f", R"("del\x7f")"},
      {"say \"hi\"", R"("say \x22hi\x22")"},
      {"Europe\\Berlin", R"("Europe\x5cBerlin")"},
      {"Z\xc3\xbcrich", R"("Z\xc3\xbcrich")"},
  };
  for (const QuoteCase& c : cases) EXPECT_EQ(quote(c.text), c.expected) << c.expected;
}

TEST(Quote, AnExcerptIsCutAfterMaxLengthBytesAndSaysSo) {
  EXPECT_EQ(quote_excerpt("short", 8), R"("short")");
  EXPECT_EQ(quote_excerpt("exactly8", 8), R"("exactly8")");
  EXPECT_EQ(quote_excerpt("nine char", 8), R"("nine cha"...)");
  EXPECT_EQ(quote_excerpt("\r\n\r\n\r\n", 2), R"("\x0d\x0a"...)");
}

TEST(AsciiCase, ComparesLettersOfEitherCaseAndNothingElse) {
  EXPECT_TRUE(equals_ignoring_case("Content-Type", "content-type"));
  EXPECT_TRUE(equals_ignoring_case("", ""));
  EXPECT_FALSE(equals_ignoring_case("content-type", "content-typ"));
  EXPECT_FALSE(equals_ignoring_case("a-b", "a_b"));
  EXPECT_FALSE(equals_ignoring_case("\xc3\x84", "\xc3\xa4")) << "only ASCII letters fold";
  EXPECT_FALSE(equals_ignoring_case("@", "`")) << "the bytes before 'A' and 'a' are not letters";

  EXPECT_TRUE(starts_with_ignoring_case("Bearer abc", "bearer"));
  EXPECT_TRUE(starts_with_ignoring_case("CE-id", "ce-"));
  EXPECT_TRUE(starts_with_ignoring_case("x", ""));
  EXPECT_FALSE(starts_with_ignoring_case("bear", "bearer"));
  EXPECT_FALSE(starts_with_ignoring_case("basic abc", "bearer"));
}

TEST(AsciiCase, ConvertsOnlyAsciiLetters) {
  EXPECT_EQ(to_ascii_lower("Application/JSON; Charset=UTF-8"), "application/json; charset=utf-8");
  EXPECT_EQ(to_ascii_upper("post \xc3\xa4"), "POST \xc3\xa4");
  EXPECT_EQ(ascii_lower('['), '[');
  EXPECT_EQ(ascii_upper('{'), '{');
}

TEST(TrimWhitespace, RemovesAsciiWhiteSpaceAtBothEndsOnly) {
  EXPECT_EQ(trim_whitespace("  a b\t"), "a b");
  EXPECT_EQ(trim_whitespace("\n\v\f\r x \r\n"), "x");
  EXPECT_EQ(trim_whitespace(" \t "), "");
  EXPECT_EQ(trim_whitespace(""), "");
  EXPECT_EQ(trim_whitespace("\xc2\xa0x"), "\xc2\xa0x") << "no-break space is not ASCII";
}

TEST(HexValue, ReadsDigitsOfEitherCase) {
  EXPECT_EQ(hex_value('0'), 0);
  EXPECT_EQ(hex_value('9'), 9);
  EXPECT_EQ(hex_value('a'), 10);
  EXPECT_EQ(hex_value('F'), 15);
  for (char c : {'g', 'G', '/', ':', '@', '`', ' ', '\0'}) EXPECT_EQ(hex_value(c), -1) << c;
}

TEST(HttpToken, AllowsTokenCharactersOnly) {
  for (const char* token : {"X-Hub-Signature-256", "POST", "!#$%&'*+-.^_`|~", "a"}) {
    EXPECT_TRUE(is_http_token(token)) << token;
  }
  for (const char* not_token : {"", "a b", "a:b", "a\r\nb", "a\"b", "(a)", "a/b", "\xc3\xa4"}) {
    EXPECT_FALSE(is_http_token(not_token)) << not_token;
  }
}

TEST(Base64, DecodesWithAndWithoutPaddingAndRefusesWhatIsNotBase64) {
  EXPECT_EQ(base64_decode(""), std::string());
  EXPECT_EQ(base64_decode("Zg=="), "f");
  EXPECT_EQ(base64_decode("Zg"), "f");
  EXPECT_EQ(base64_decode("Zm8="), "fo");
  EXPECT_EQ(base64_decode("Zm9v"), "foo");
  EXPECT_EQ(base64_decode("+/+/"), std::string("\xfb\xff\xbf", 3));
  EXPECT_EQ(base64_decode("Zm9v!"), std::nullopt);
  EXPECT_EQ(base64_decode("Zm9vY"), std::nullopt);   // 6 bits left over
  EXPECT_EQ(base64_decode("Zg=a"), std::nullopt);    // '=' inside
  EXPECT_EQ(base64_decode("Zg==="), std::nullopt);   // too much padding
  EXPECT_EQ(base64_decode("Zm8=="), std::nullopt);   // padding past a group of four
  EXPECT_EQ(base64_decode("Zm9v-_"), std::nullopt);  // the URL alphabet is another one
}

}  // namespace
}  // namespace triggerd
