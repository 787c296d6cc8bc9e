#include "connectors/http/webhook_auth.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>

#include "core/text.hpp"

namespace triggerd {
namespace {

using namespace std::string_literals;

// Expected digests computed with `printf '%s' DATA | openssl dgst -sha256 -hmac KEY`.
struct HmacVector {
  std::string key;
  std::string data;
  std::string hex;
};

const HmacVector kHmacVectors[] = {
    // RFC 4231, test case 2.
    {"Jefe", "what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
    // GitHub's documented example of X-Hub-Signature-256.
    {"It's a Secret to Everybody", "Hello, World!",
     "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"},
    {"key", "", "5d5d139563c95b5967b9bd9a8c9b233a9dedb45072794cd232dc1b74832607d0"},
    {"s3cr3t", R"({"action":"opened","number":42})",
     "4ff93b2e8f2a66c160b4194e7fc538dff8d69545ef922e5d2961cc30909e8b6a"},
    {"nul-key", "a\0b"s, "d3ced9436c944c04b69944ace8d6f944bfa23b841b469cf4eca74c910f9b7352"},
    {"", "payload", "f81a95af381879c33f964c589fa096fa133a07606e9976e547060e7a0ea0f5f3"},
};

TEST(WebhookAuth, HmacSha256MatchesKnownVectors) {
  for (const HmacVector& vector : kHmacVectors) {
    const auto digest = hmac_sha256(vector.key, vector.data);
    ASSERT_TRUE(digest.has_value()) << vector.key;
    EXPECT_EQ(to_hex(*digest), vector.hex) << "key " << vector.key;
  }
}

TEST(WebhookAuth, ConstantTimeEqualsComparesContentAndLength) {
  EXPECT_TRUE(constant_time_equals("", ""));
  EXPECT_TRUE(constant_time_equals("token", "token"));
  EXPECT_FALSE(constant_time_equals("token", "tokem"));
  EXPECT_FALSE(constant_time_equals("token", "token2"));
  EXPECT_FALSE(constant_time_equals("token", "toke"));
  EXPECT_FALSE(constant_time_equals("token", ""));
  EXPECT_TRUE(constant_time_equals("a\0b"s, "a\0b"s));
  EXPECT_FALSE(constant_time_equals("a\0b"s, "a\0c"s));
}

struct BearerCase {
  const char* name;
  std::optional<std::string> authorization;
  bool passes;
};

TEST(WebhookAuth, BearerAcceptsOnlyTheConfiguredToken) {
  const config::BearerAuth auth{config::Secret("s3cr3t-token")};
  const BearerCase cases[] = {
      {"exact", "Bearer s3cr3t-token", true},
      {"scheme in any case", "bearer s3cr3t-token", true},
      {"scheme in capitals", "BEARER s3cr3t-token", true},
      {"extra spaces", "Bearer   s3cr3t-token  ", true},
      {"missing header", std::nullopt, false},
      {"empty header", "", false},
      {"scheme only", "Bearer", false},
      {"scheme and space only", "Bearer ", false},
      {"wrong token", "Bearer s3cr3t-tokem", false},
      {"token prefix", "Bearer s3cr3t", false},
      {"token with suffix", "Bearer s3cr3t-token2", false},
      {"token in other case", "Bearer S3CR3T-TOKEN", false},
      {"no space after scheme", "Bearers3cr3t-token", false},
      {"basic scheme", "Basic s3cr3t-token", false},
      {"token without scheme", "s3cr3t-token", false},
  };
  for (const BearerCase& c : cases) {
    std::optional<std::string_view> header;
    if (c.authorization) header = *c.authorization;
    EXPECT_EQ(bearer_token_matches(auth, header), c.passes) << c.name;
    EXPECT_EQ(webhook_auth_passes(auth, {.authorization = header}, "any body"), c.passes) << c.name;
  }
}

TEST(WebhookAuth, BearerWithAnEmptyConfiguredTokenNeverPasses) {
  const config::BearerAuth auth{config::Secret("")};
  EXPECT_FALSE(bearer_token_matches(auth, std::string_view("Bearer ")));
  EXPECT_FALSE(bearer_token_matches(auth, std::string_view("Bearer x")));
}

struct SignatureCase {
  const char* name;
  std::optional<std::string> signature;
  std::string body;
  bool passes;
};

TEST(WebhookAuth, HmacAcceptsOnlyTheSignatureOfTheRawBody) {
  const config::HmacSha256Auth auth{config::Secret("It's a Secret to Everybody"),
                                    "X-Hub-Signature-256"};
  const std::string hex = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
  const std::string upper_hex = to_ascii_upper(hex);
  std::string one_digit_off = hex;
  one_digit_off.back() = '8';
  const SignatureCase cases[] = {
      {"exact", "sha256=" + hex, "Hello, World!", true},
      {"upper-case hex", "sha256=" + upper_hex, "Hello, World!", true},
      {"upper-case prefix", "SHA256=" + hex, "Hello, World!", true},
      {"missing header", std::nullopt, "Hello, World!", false},
      {"empty header", "", "Hello, World!", false},
      {"prefix only", "sha256=", "Hello, World!", false},
      {"hex without prefix", hex, "Hello, World!", false},
      {"sha1 prefix", "sha1=" + hex, "Hello, World!", false},
      {"one digit off", "sha256=" + one_digit_off, "Hello, World!", false},
      {"truncated", "sha256=" + hex.substr(0, 62), "Hello, World!", false},
      {"too long", "sha256=" + hex + "00", "Hello, World!", false},
      {"not hex", "sha256=" + std::string(64, 'g'), "Hello, World!", false},
      {"other body", "sha256=" + hex, "Hello, World?", false},
      {"body with a trailing newline", "sha256=" + hex, "Hello, World!\n", false},
  };
  for (const SignatureCase& c : cases) {
    std::optional<std::string_view> header;
    if (c.signature) header = *c.signature;
    EXPECT_EQ(hmac_signature_matches(auth, header, c.body), c.passes) << c.name;
    EXPECT_EQ(webhook_auth_passes(auth, {.signature = header}, c.body), c.passes) << c.name;
  }
}

TEST(WebhookAuth, HmacSignatureCoversBinaryBodies) {
  const config::HmacSha256Auth auth{config::Secret("nul-key"), "X-Signature"};
  const std::string signature =
      "sha256=d3ced9436c944c04b69944ace8d6f944bfa23b841b469cf4eca74c910f9b7352";
  EXPECT_TRUE(hmac_signature_matches(auth, signature, "a\0b"s));
  EXPECT_FALSE(hmac_signature_matches(auth, signature, "a"));
}

TEST(WebhookAuth, OnlyHmacNeedsTheBody) {
  EXPECT_FALSE(webhook_auth_needs_body(config::WebhookAuth{config::BearerAuth{}}));
  EXPECT_TRUE(webhook_auth_needs_body(config::WebhookAuth{config::HmacSha256Auth{}}));
}

}  // namespace
}  // namespace triggerd
