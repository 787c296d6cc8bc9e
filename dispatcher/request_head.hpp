#pragma once
// The HTTP/1.1 request head of a delivery in CloudEvents binary mode (docs/delivery.md), written
// straight into a reusable string: no header map per request, and the part that is the same
// for every request to an endpoint is built once.
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/event.hpp"
#include "config/config.hpp"

namespace triggerd {

// A header added by the caller of one request, e.g. {"ce-attempt", "2"}. Values of ce-*
// headers are percent-encoded like every other CloudEvents attribute.
struct ExtraHeader {
  std::string_view name;
  std::string_view value;
};

// Request line, Host, User-Agent, Connection: keep-alive and the endpoint's configured headers.
// The result holds revealed secrets: it goes on the wire and nowhere else.
std::string make_fixed_head(const config::HttpUrl& url,
                            const std::vector<std::pair<std::string, config::Secret>>& headers);

// Appends the event's headers, `extra`, Content-Length and the blank line that ends the head.
// Attributes that would collide with a header set here, attribute names outside the
// CloudEvents rule (lower-case letters and digits), and values that could break the message
// framing are left out.
void append_event_headers(const Event& event, std::span<const ExtraHeader> extra, std::string& out);

// The rest of the head of a request whose body is already encoded (a batch): Content-Type,
// `extra` (ce-* ones percent-encoded), Content-Length and the blank line.
void append_body_headers(std::string_view content_type, std::size_t body_size,
                         std::span<const ExtraHeader> extra, std::string& out);

// CloudEvents HTTP binding 1.0.2, 3.1.3.2: space, '"', '%' and every byte outside the printable
// ASCII range become %XX (upper-case hex), so any UTF-8 string survives as a header value.
void append_percent_encoded(std::string_view value, std::string& out);

}  // namespace triggerd
