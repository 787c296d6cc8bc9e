#include "connectors/http/webhook_auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include <cstddef>
#include <variant>
#include <vector>

#include "core/text.hpp"
#include "core/time_format.hpp"

namespace triggerd {
namespace {

constexpr std::string_view kBearerScheme = "bearer";
constexpr std::string_view kSignaturePrefix = "sha256=";

std::optional<Sha256Digest> parse_hex_digest(std::string_view hex) {
  Sha256Digest digest{};
  if (hex.size() != digest.size() * 2) return std::nullopt;
  for (std::size_t i = 0; i < digest.size(); ++i) {
    const int high = hex_value(hex[2 * i]);
    const int low = hex_value(hex[2 * i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    digest[i] = static_cast<std::uint8_t>(high * 16 + low);
  }
  return digest;
}

std::optional<Sha256Digest> sha256(std::string_view data) {
  Sha256Digest digest{};
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1) {
    return std::nullopt;
  }
  return digest;
}

}  // namespace

std::optional<Sha256Digest> hmac_sha256(std::string_view key, std::string_view data) {
  return hmac_sha256(key, {data});
}

std::optional<Sha256Digest> hmac_sha256(std::string_view key,
                                        std::initializer_list<std::string_view> parts) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* context = mac != nullptr ? EVP_MAC_CTX_new(mac) : nullptr;
  char digest_name[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_end()};
  // A non-null key pointer even for an empty key: OpenSSL reads a null key as "no key given".
  static constexpr unsigned char kEmpty = 0;
  const auto* key_bytes =
      key.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(key.data());
  bool ok = context != nullptr && EVP_MAC_init(context, key_bytes, key.size(), params) == 1;
  for (const std::string_view part : parts) {
    ok = ok && EVP_MAC_update(context, reinterpret_cast<const unsigned char*>(part.data()),
                              part.size()) == 1;
  }
  Sha256Digest digest{};
  std::size_t size = 0;
  ok = ok && EVP_MAC_final(context, digest.data(), &size, digest.size()) == 1 &&
       size == digest.size();
  EVP_MAC_CTX_free(context);
  EVP_MAC_free(mac);
  if (!ok) return std::nullopt;
  return digest;
}

std::string to_hex(const Sha256Digest& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(digest.size() * 2);
  for (std::uint8_t byte : digest) {
    hex.push_back(kHex[byte >> 4]);
    hex.push_back(kHex[byte & 0xf]);
  }
  return hex;
}

bool constant_time_equals(std::string_view a, std::string_view b) {
  // Comparing digests rather than the strings makes the comparison itself independent of the
  // lengths: CRYPTO_memcmp needs equal sizes, and padding the shorter string would leak
  // where the secret ends. Equal digests of SHA-256 mean equal strings.
  const std::optional<Sha256Digest> digest_a = sha256(a);
  const std::optional<Sha256Digest> digest_b = sha256(b);
  // Only a broken OpenSSL fails to hash; then nothing matches (fail closed).
  if (!digest_a || !digest_b) return false;
  const int differs = CRYPTO_memcmp(digest_a->data(), digest_b->data(), digest_a->size());
  // Bitwise, not &&: both parts are always evaluated.
  return static_cast<bool>(static_cast<unsigned>(differs == 0) &
                           static_cast<unsigned>(a.size() == b.size()));
}

bool bearer_token_matches(const config::BearerAuth& auth,
                          std::optional<std::string_view> authorization) {
  if (!authorization) return false;
  std::string_view value = trim_whitespace(*authorization);
  if (!starts_with_ignoring_case(value, kBearerScheme)) return false;
  value.remove_prefix(kBearerScheme.size());
  if (value.empty() || (value.front() != ' ' && value.front() != '\t')) return false;
  const std::string_view token = trim_whitespace(value);
  // An empty configured token is refused by the config loader; refusing here too means a
  // mistake there can never open the webhook to everybody.
  if (token.empty() || auth.token.empty()) return false;
  return constant_time_equals(token, auth.token.reveal());
}

bool timestamp_within(std::optional<std::string_view> seconds, config::Duration tolerance,
                      std::chrono::system_clock::time_point now) {
  if (!seconds) return false;
  const std::string_view digits = trim_whitespace(*seconds);
  // Up to 12 digits: any Unix time in seconds until the year 33658, and no overflow below.
  if (digits.empty() || digits.size() > 12) return false;
  std::int64_t value = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  // The clock's nanoseconds end in 2262: a later time, which any client can send, is no time
  // near now (and would overflow them).
  const std::optional<std::chrono::system_clock::time_point> signed_at =
      unix_millis_time(value * 1000);
  if (!signed_at) return false;
  const auto apart = *signed_at > now ? *signed_at - now : now - *signed_at;
  return apart <= tolerance;
}

bool hmac_signature_matches(const config::HmacSha256Auth& auth, const WebhookAuthHeaders& headers,
                            std::string_view body, std::chrono::system_clock::time_point now) {
  const std::optional<std::string_view>& signature = headers.signature;
  if (!signature || auth.secret.empty()) return false;
  std::string_view value = trim_whitespace(*signature);
  if (!starts_with_ignoring_case(value, kSignaturePrefix)) return false;
  value.remove_prefix(kSignaturePrefix.size());
  // Decoding the hex first makes upper and lower case digits equal without comparing text,
  // and what is compared in constant time is then exactly the 32 digest bytes.
  const std::optional<Sha256Digest> given = parse_hex_digest(value);
  if (!given) return false;
  std::optional<Sha256Digest> expected;
  if (auth.timestamp_header.empty()) {
    expected = hmac_sha256(auth.secret.reveal(), body);
  } else {
    // The timestamp is signed with the body, so that it cannot be replaced: a captured request
    // is good for `tolerance` only.
    if (!timestamp_within(headers.timestamp, auth.tolerance, now)) return false;
    expected = hmac_sha256(auth.secret.reveal(), {trim_whitespace(*headers.timestamp), ".", body});
  }
  if (!expected) return false;  // a broken OpenSSL: fail closed
  return CRYPTO_memcmp(given->data(), expected->data(), expected->size()) == 0;
}

bool standard_webhook_matches(const config::StandardWebhooksAuth& auth,
                              const WebhookAuthHeaders& headers, std::string_view body,
                              std::chrono::system_clock::time_point now) {
  if (!headers.webhook_id || !headers.webhook_signature || auth.keys.empty()) return false;
  if (!timestamp_within(headers.webhook_timestamp, auth.tolerance, now)) return false;
  const std::string_view id = trim_whitespace(*headers.webhook_id);
  const std::string_view timestamp = trim_whitespace(*headers.webhook_timestamp);
  if (id.empty()) return false;
  std::vector<Sha256Digest> expected;
  expected.reserve(auth.keys.size());
  for (const config::Secret& key : auth.keys) {
    const std::optional<Sha256Digest> digest = hmac_sha256(key.reveal(), {id, ".", timestamp, ".", body});
    if (!digest) return false;  // a broken OpenSSL: fail closed
    expected.push_back(*digest);
  }
  // "v1,SIG v1,SIG2 ...": the sender's keys during its rotation; other versions are skipped.
  std::string_view rest = *headers.webhook_signature;
  bool matched = false;
  while (!rest.empty()) {
    const std::size_t space = rest.find(' ');
    const std::string_view entry = rest.substr(0, space);
    rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
    if (!entry.starts_with("v1,")) continue;
    const std::optional<std::string> given = base64_decode(entry.substr(3));
    if (!given || given->size() != Sha256Digest().size()) continue;
    for (const Sha256Digest& digest : expected) {
      // Every pair is compared, without stopping at a match: the time says nothing of which.
      matched |= CRYPTO_memcmp(given->data(), digest.data(), digest.size()) == 0;
    }
  }
  return matched;
}

bool webhook_auth_needs_body(const config::WebhookAuth& auth) {
  return !std::holds_alternative<config::BearerAuth>(auth);
}

bool webhook_auth_passes(const config::WebhookAuth& auth, const WebhookAuthHeaders& headers,
                         std::string_view body, std::chrono::system_clock::time_point now) {
  if (const auto* bearer = std::get_if<config::BearerAuth>(&auth)) {
    return bearer_token_matches(*bearer, headers.authorization);
  }
  if (const auto* standard = std::get_if<config::StandardWebhooksAuth>(&auth)) {
    return standard_webhook_matches(*standard, headers, body, now);
  }
  return hmac_signature_matches(std::get<config::HmacSha256Auth>(auth), headers, body, now);
}

}  // namespace triggerd
