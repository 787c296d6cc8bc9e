#include "connectors/http/webhook_auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstddef>
#include <variant>

#include "core/text.hpp"

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
  Sha256Digest digest{};
  unsigned int size = 0;
  // A non-null key pointer even for an empty key: OpenSSL reads a null key as "no key given".
  static constexpr unsigned char kEmpty = 0;
  const void* key_bytes = key.empty() ? static_cast<const void*>(&kEmpty) : key.data();
  if (HMAC(EVP_sha256(), key_bytes, static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data(),
           &size) == nullptr) {
    return std::nullopt;
  }
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

bool hmac_signature_matches(const config::HmacSha256Auth& auth,
                            std::optional<std::string_view> signature, std::string_view body) {
  if (!signature || auth.secret.empty()) return false;
  std::string_view value = trim_whitespace(*signature);
  if (!starts_with_ignoring_case(value, kSignaturePrefix)) return false;
  value.remove_prefix(kSignaturePrefix.size());
  // Decoding the hex first makes upper and lower case digits equal without comparing text,
  // and what is compared in constant time is then exactly the 32 digest bytes.
  const std::optional<Sha256Digest> given = parse_hex_digest(value);
  if (!given) return false;
  const std::optional<Sha256Digest> expected = hmac_sha256(auth.secret.reveal(), body);
  if (!expected) return false;  // a broken OpenSSL: fail closed
  return CRYPTO_memcmp(given->data(), expected->data(), expected->size()) == 0;
}

bool webhook_auth_needs_body(const config::WebhookAuth& auth) {
  return std::holds_alternative<config::HmacSha256Auth>(auth);
}

bool webhook_auth_passes(const config::WebhookAuth& auth, const WebhookAuthHeaders& headers,
                         std::string_view body) {
  if (const auto* bearer = std::get_if<config::BearerAuth>(&auth)) {
    return bearer_token_matches(*bearer, headers.authorization);
  }
  return hmac_signature_matches(std::get<config::HmacSha256Auth>(auth), headers.signature, body);
}

}  // namespace triggerd
