// The webhook ingress: the raw bytes a client sends on one keep-alive connection, read the way
// connectors/http/webhook_server.cpp reads them (Beast's request_parser over a buffer_body, its
// header limit, the body grown in steps under server.max_body_size), then the route's auth
// check and the event. The server reads only from sockets, so the bytes come from memory here
// (arriving_bytes.hpp); the parser, the auth functions and the event rules are the server's.
//
// Input: one byte choosing the route's auth (none, bearer, HMAC, HMAC with a timestamp,
// Standard Webhooks) and how the bytes arrive (at once, or in pieces), then the bytes.
// Every event must have an id, a source and a type, and a delivery head that cannot be broken
// (delivery_head_check.hpp).
#include <algorithm>
#include <array>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "arriving_bytes.hpp"
#include "config/config.hpp"
#include "connectors/http/webhook_auth.hpp"
#include "connectors/http/webhook_event.hpp"
#include "delivery_head_check.hpp"

namespace {

namespace http = boost::beast::http;
using Parser = http::request_parser<http::buffer_body>;  // as the server's
using triggerd::fuzz::ArrivingBytes;

constexpr std::uint32_t kHeaderLimit = 16 * 1024;  // WebhookLimits::max_header_size
// Smaller than the server's defaults, so that short inputs reach the limit and the growth.
constexpr std::uint64_t kMaxBodySize = 4096;
constexpr std::size_t kBodyGrowth = 256;
constexpr int kMaxRequests = 16;
// Signed timestamps are checked against this "now" (the seeds are signed for it).
const auto kNow = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));

const std::array<std::optional<triggerd::config::WebhookAuth>, 5>& auth_choices() {
  using namespace triggerd::config;
  static const std::array<std::optional<WebhookAuth>, 5> choices = [] {
    HmacSha256Auth hmac{Secret("hmac-secret")};
    HmacSha256Auth stamped{Secret("hmac-secret")};
    stamped.header = "X-Signature";
    stamped.timestamp_header = "X-Timestamp";
    StandardWebhooksAuth standard;
    standard.keys = {Secret("old-key-bytes"), Secret("standard-key")};
    return std::array<std::optional<WebhookAuth>, 5>{
        std::nullopt, WebhookAuth(BearerAuth{Secret("bearer-token")}), WebhookAuth(hmac),
        WebhookAuth(stamped), WebhookAuth(standard)};
  }();
  return choices;
}

[[noreturn]] void fail(const char* why) {
  std::fprintf(stderr, "webhook request: %s\n", why);
  std::abort();
}

// One request after its header was read: its body as the server reads it, then the event.
// False when the connection ends here.
bool finish_request(Parser& parser, ArrivingBytes& input,
                    const std::optional<triggerd::config::WebhookAuth>& auth) {
  const auto& request = parser.get();
  const triggerd::WebhookAuthHeaders auth_headers = triggerd::webhook_auth_headers(
      auth, [&](std::string_view name) -> std::optional<std::string_view> {
        const auto it = request.find(name);
        if (it == request.end()) return std::nullopt;
        return it->value();
      });
  const boost::optional<std::uint64_t> content_length = parser.content_length();
  if (content_length && *content_length > kMaxBodySize) return false;  // 413, then closed

  std::string body;
  if (!parser.is_done()) {
    parser.body_limit(kMaxBodySize);
    parser.eager(true);  // as http::read sets it for the body
    const std::uint64_t cap = content_length ? *content_length : kMaxBodySize + 1;
    std::size_t filled = 0;
    while (!parser.is_done()) {
      if (filled == body.size()) {
        body.resize(body.size() + static_cast<std::size_t>(
                                      std::min<std::uint64_t>(kBodyGrowth, cap - body.size())));
      }
      auto& window = parser.get().body();
      window.data = body.data() + filled;
      window.size = body.size() - filled;
      const boost::system::error_code error = input.read(parser, [&] { return parser.is_done(); });
      filled = body.size() - parser.get().body().size;
      parser.get().body().data = nullptr;
      if (error == http::error::need_buffer) continue;
      if (error) return false;  // 413 for body_limit, 400 or nothing for the rest: closed
    }
    body.resize(filled);
  }
  if (content_length && body.size() != *content_length) fail("body is not Content-Length long");
  if (body.size() > kMaxBodySize) fail("body over the limit");

  if (auth) (void)triggerd::webhook_auth_passes(*auth, auth_headers, body, kNow);

  std::vector<triggerd::WebhookHeader> headers;
  for (const auto& field : request) headers.push_back({field.name_string(), field.value()});
  const std::string sent_body = body;
  triggerd::WebhookEventResult mapped =
      triggerd::make_webhook_event({"/hook", headers, std::move(body)}, kNow);
  if (mapped.ok()) {
    const triggerd::Event& event = mapped.event;
    if (event.id.empty() || event.source.empty() || event.type.empty()) {
      fail("an event without id, source or type");
    }
    if (event.type == triggerd::kWebhookEventType && event.source == "/hook" &&
        event.data != sent_body) {
      fail("a plain request's event does not hold its body");
    }
    triggerd::fuzz::check_delivery_head(event);
  } else if (mapped.error.empty()) {
    fail("no event and no error");
  }
  return request.keep_alive();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto& auth = auth_choices()[data[0] % 5];
  ArrivingBytes input(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1),
                      static_cast<std::size_t>(data[0] / 5) * 3);
  for (int n = 0; n < kMaxRequests && !input.exhausted(); ++n) {
    Parser parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(boost::none);  // as the server: the route decides, after the header
    const boost::system::error_code error =
        input.read(parser, [&] { return parser.is_header_done(); });
    if (error) break;  // 431, 400 or a closed connection: the connection ends
    if (!finish_request(parser, input, auth)) break;
  }
  return 0;
}
