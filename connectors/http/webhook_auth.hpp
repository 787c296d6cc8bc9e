#pragma once
// The checks behind a webhook's `auth` (docs/configuration.md): a bearer token, an HMAC-SHA256
// signature of the raw body (optionally bound to a timestamp), or a Standard Webhooks
// signature. Pure functions, no I/O, so that they can be tested alone.
//
// Every comparison with a secret runs in constant time, lengths included: a check that
// returned early at the first wrong byte would let a client find the token byte by byte by
// timing its answers.
#include <array>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "config/config.hpp"

namespace triggerd {

// The request headers an auth check reads; std::nullopt when the request lacks the header.
struct WebhookAuthHeaders {
  std::optional<std::string_view> authorization;
  std::optional<std::string_view> signature;  // the HmacSha256Auth::header of the route
  std::optional<std::string_view> timestamp;  // its timestamp_header, when it has one
  // Standard Webhooks.
  std::optional<std::string_view> webhook_id;
  std::optional<std::string_view> webhook_timestamp;
  std::optional<std::string_view> webhook_signature;
};

// The headers the check of `auth` reads from a request; `find(name)` gives the value of the
// request's header `name` (compared without regard to case) or std::nullopt. A template over
// the lookup so that this file stays free of Beast: the server passes its parsed request's.
template <typename Find>
WebhookAuthHeaders webhook_auth_headers(const std::optional<config::WebhookAuth>& auth, Find find) {
  WebhookAuthHeaders headers;
  headers.authorization = find("Authorization");
  if (auth) {
    if (const auto* hmac = std::get_if<config::HmacSha256Auth>(&*auth)) {
      headers.signature = find(hmac->header);
      if (!hmac->timestamp_header.empty()) headers.timestamp = find(hmac->timestamp_header);
    } else if (std::holds_alternative<config::StandardWebhooksAuth>(*auth)) {
      headers.webhook_id = find("webhook-id");
      headers.webhook_timestamp = find("webhook-timestamp");
      headers.webhook_signature = find("webhook-signature");
    }
  }
  return headers;
}

using Sha256Digest = std::array<std::uint8_t, 32>;

// HMAC-SHA256 of `data` under `key`; std::nullopt only if OpenSSL fails.
std::optional<Sha256Digest> hmac_sha256(std::string_view key, std::string_view data);
// The same of the parts one after the other, without joining them first.
std::optional<Sha256Digest> hmac_sha256(std::string_view key,
                                        std::initializer_list<std::string_view> parts);

// Lower-case hex of a digest, as GitHub and most webhook senders write it.
std::string to_hex(const Sha256Digest& digest);

// Whether `a` equals `b`, in a time that depends on neither their contents nor on where they
// differ (only on the lengths, which a caller may know anyway).
bool constant_time_equals(std::string_view a, std::string_view b);

// `Authorization: Bearer TOKEN` (the scheme name case-insensitive, RFC 7235).
bool bearer_token_matches(const config::BearerAuth& auth,
                          std::optional<std::string_view> authorization);

// Whether a signed Unix time in seconds (digits only) lies within `tolerance` of `now`, before
// or after: an older one may be a replay, a later one a clock far off.
bool timestamp_within(std::optional<std::string_view> seconds, config::Duration tolerance,
                      std::chrono::system_clock::time_point now);

// `sha256=HEX` where HEX is HMAC-SHA256(secret, body), hex digits in either case; with a
// timestamp_header, of "TIMESTAMP.BODY", and the timestamp within the tolerance of `now`.
bool hmac_signature_matches(const config::HmacSha256Auth& auth, const WebhookAuthHeaders& headers,
                            std::string_view body, std::chrono::system_clock::time_point now);

// Standard Webhooks: webhook-signature holds space-separated `v1,BASE64` signatures; one of
// them must be HMAC-SHA256 of "ID.TIMESTAMP.BODY" under one of the keys, and the timestamp
// within the tolerance of `now`.
bool standard_webhook_matches(const config::StandardWebhooksAuth& auth,
                              const WebhookAuthHeaders& headers, std::string_view body,
                              std::chrono::system_clock::time_point now);

// The check of one route's auth. Bearer needs no body, so the server runs it before reading
// one; the signature checks need the whole raw body.
bool webhook_auth_needs_body(const config::WebhookAuth& auth);
bool webhook_auth_passes(const config::WebhookAuth& auth, const WebhookAuthHeaders& headers,
                         std::string_view body,
                         std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

}  // namespace triggerd
