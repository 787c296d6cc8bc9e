#include "connectors/http/webhook_auth.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>

#include "core/text.hpp"

namespace triggerd {
namespace {

using namespace std::string_literals;

const auto kNow = std::chrono::system_clock::now();

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
    // In parts, split anywhere: the same digest.
    const std::string_view data = vector.data;
    const auto parts = hmac_sha256(vector.key, {data.substr(0, data.size() / 2), "",
                                                data.substr(data.size() / 2)});
    ASSERT_TRUE(parts.has_value());
    EXPECT_EQ(to_hex(*parts), vector.hex) << "key " << vector.key << ", in parts";
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
    EXPECT_EQ(hmac_signature_matches(auth, {.signature = header}, c.body, kNow), c.passes)
        << c.name;
    EXPECT_EQ(webhook_auth_passes(auth, {.signature = header}, c.body), c.passes) << c.name;
  }
}

TEST(WebhookAuth, HmacSignatureCoversBinaryBodies) {
  const config::HmacSha256Auth auth{config::Secret("nul-key"), "X-Signature"};
  const std::string signature =
      "sha256=d3ced9436c944c04b69944ace8d6f944bfa23b841b469cf4eca74c910f9b7352";
  EXPECT_TRUE(hmac_signature_matches(auth, {.signature = signature}, "a\0b"s, kNow));
  EXPECT_FALSE(hmac_signature_matches(auth, {.signature = signature}, "a", kNow));
}

TEST(WebhookAuth, OnlyTheSignaturesNeedTheBody) {
  EXPECT_FALSE(webhook_auth_needs_body(config::WebhookAuth{config::BearerAuth{}}));
  EXPECT_TRUE(webhook_auth_needs_body(config::WebhookAuth{config::HmacSha256Auth{}}));
  EXPECT_TRUE(webhook_auth_needs_body(config::WebhookAuth{config::StandardWebhooksAuth{}}));
}

TEST(WebhookAuth, HmacWithATimestampSignsItAndRefusesItOutsideTheWindow) {
  config::HmacSha256Auth auth{config::Secret("It's a Secret to Everybody"), "X-Signature"};
  auth.timestamp_header = "X-Timestamp";
  // HMAC-SHA256 of "1700000000.Hello, World!".
  const std::string signature =
      "sha256=76c83fd0acdf22faed320674fe8e04d528cfe8a17905e720a9611e40677c03b7";
  const auto signed_at = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  auto passes = [&](std::optional<std::string_view> timestamp, std::string_view body,
                    std::chrono::system_clock::time_point now) {
    return webhook_auth_passes(auth, {.signature = signature, .timestamp = timestamp}, body, now);
  };
  EXPECT_TRUE(passes("1700000000", "Hello, World!", signed_at));
  EXPECT_TRUE(passes("1700000000", "Hello, World!", signed_at + std::chrono::minutes(5)));
  EXPECT_TRUE(passes("1700000000", "Hello, World!", signed_at - std::chrono::minutes(5)));
  // Replayed later, or a clock far ahead.
  EXPECT_FALSE(passes("1700000000", "Hello, World!", signed_at + std::chrono::seconds(301)));
  EXPECT_FALSE(passes("1700000000", "Hello, World!", signed_at - std::chrono::seconds(301)));
  // A fresh timestamp on an old signature: the signature covers the timestamp.
  EXPECT_FALSE(passes("1700000200", "Hello, World!", signed_at + std::chrono::seconds(200)));
  EXPECT_FALSE(passes(std::nullopt, "Hello, World!", signed_at));
  EXPECT_FALSE(passes("", "Hello, World!", signed_at));
  EXPECT_FALSE(passes("1700000000.0", "Hello, World!", signed_at));
  EXPECT_FALSE(passes("-1700000000", "Hello, World!", signed_at));
  EXPECT_FALSE(passes("99999999999999999999", "Hello, World!", signed_at));
  EXPECT_FALSE(passes("1700000000", "Hello, World?", signed_at));
  // The body alone signed, as without a timestamp_header: refused once one is asked for.
  EXPECT_FALSE(webhook_auth_passes(
      auth,
      {.signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
       .timestamp = "1700000000"},
      "Hello, World!", signed_at));
}

// Twelve digits pass the length check but reach past the clock's nanoseconds (year 2262): an
// unauthenticated client's timestamp overflowed them.
TEST(WebhookAuth, ATimestampBeyondTheClockIsOutsideTheWindow) {
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  const config::Duration tolerance = std::chrono::minutes(5);
  EXPECT_FALSE(timestamp_within("13700000001", tolerance, now));
  EXPECT_FALSE(timestamp_within("999999999999", tolerance, now));
  EXPECT_FALSE(timestamp_within("9223372037", tolerance, now));
  EXPECT_TRUE(timestamp_within("1700000299", tolerance, now));
}

// The Standard Webhooks specification's published test vector.
constexpr std::string_view kVectorKeyBase64 = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr std::string_view kVectorId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr std::string_view kVectorTimestamp = "1614265330";
constexpr std::string_view kVectorBody = R"({"test": 2432232314})";
constexpr std::string_view kVectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

TEST(WebhookAuth, StandardWebhooksAcceptsThePublishedVectorWithinTheWindowOnly) {
  config::StandardWebhooksAuth auth;
  auth.keys.emplace_back(*base64_decode(kVectorKeyBase64));
  const auto signed_at = std::chrono::system_clock::time_point(std::chrono::seconds(1614265330));
  auto passes = [&](std::string_view signature, std::chrono::system_clock::time_point now,
                    std::string_view id = kVectorId, std::string_view body = kVectorBody) {
    return webhook_auth_passes(auth,
                               {.webhook_id = id,
                                .webhook_timestamp = kVectorTimestamp,
                                .webhook_signature = signature},
                               body, now);
  };
  EXPECT_TRUE(passes(kVectorSignature, signed_at + std::chrono::seconds(10)));
  EXPECT_FALSE(passes(kVectorSignature, signed_at + std::chrono::minutes(6))) << "a replay";
  EXPECT_FALSE(passes(kVectorSignature, signed_at, "msg_other"));
  EXPECT_FALSE(passes(kVectorSignature, signed_at, kVectorId, R"({"test": 2432232315})"));
  // Several signatures (the sender rotating its key): one that matches is enough; other
  // versions and malformed entries are skipped.
  const std::string several = "v1,bm90IGl0 v2,x " + std::string(kVectorSignature);
  EXPECT_TRUE(passes(several, signed_at));
  EXPECT_FALSE(passes("v2," + std::string(kVectorSignature.substr(3)), signed_at));
  EXPECT_FALSE(passes("v1," + std::string(kVectorSignature.substr(3, 20)), signed_at));
  EXPECT_FALSE(passes("", signed_at));
  EXPECT_FALSE(webhook_auth_passes(
      auth, {.webhook_id = kVectorId, .webhook_signature = kVectorSignature}, kVectorBody,
      signed_at))
      << "no timestamp";
}

TEST(WebhookAuth, StandardWebhooksAcceptsAnyOfSeveralKeysDuringARotation) {
  config::StandardWebhooksAuth auth;
  auth.keys.emplace_back(std::string("another-endpoint-key-32-bytes!!!"));
  const auto signed_at = std::chrono::system_clock::time_point(std::chrono::seconds(1614265330));
  const WebhookAuthHeaders headers{.webhook_id = kVectorId,
                                   .webhook_timestamp = kVectorTimestamp,
                                   .webhook_signature = kVectorSignature};
  EXPECT_FALSE(webhook_auth_passes(auth, headers, kVectorBody, signed_at));
  auth.keys.emplace_back(*base64_decode(kVectorKeyBase64));
  EXPECT_TRUE(webhook_auth_passes(auth, headers, kVectorBody, signed_at));
}

}  // namespace
}  // namespace triggerd
