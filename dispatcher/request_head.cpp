#include "dispatcher/request_head.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include "core/cloudevents.hpp"
#include "core/text.hpp"
#include "core/time_format.hpp"

namespace triggerd {
namespace {

constexpr std::string_view kCrlf = "\r\n";

// Attributes that binary mode carries in headers of its own (or that CloudEvents reserves); an
// event's extra attribute of the same name must not produce a second, conflicting header.
constexpr std::array<std::string_view, 8> kCoreAttributes{
    "specversion", "id", "source", "type", "time", "subject", "datacontenttype", "data"};

// RFC 9110 field-value: no control characters but horizontal tab.
bool is_field_value(std::string_view value) {
  return std::none_of(value.begin(), value.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return (byte < 0x20 && byte != '\t') || byte == 0x7f;
  });
}

bool collides(std::string_view attribute, std::span<const ExtraHeader> extra) {
  for (std::string_view core : kCoreAttributes) {
    if (equals_ignoring_case(attribute, core)) return true;
  }
  for (const ExtraHeader& header : extra) {
    std::string_view name = header.name;
    if (name.size() > 3 && starts_with_ignoring_case(name, "ce-") &&
        equals_ignoring_case(name.substr(3), attribute)) {
      return true;
    }
  }
  return false;
}

void append_raw(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append(kCrlf);
}

void append_encoded(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ");
  append_percent_encoded(value, out);
  out.append(kCrlf);
}

void append_decimal(std::string& out, std::uint64_t value) {
  std::array<char, 24> digits{};
  const char* end = std::to_chars(digits.data(), digits.data() + digits.size(), value).ptr;
  out.append(digits.data(), static_cast<std::size_t>(end - digits.data()));
}

void append_extra_headers(std::span<const ExtraHeader> extra, std::string& out) {
  for (const ExtraHeader& header : extra) {
    if (!is_http_token(header.name)) continue;
    if (header.name.size() > 3 && starts_with_ignoring_case(header.name, "ce-")) {
      append_encoded(out, header.name, header.value);
    } else if (is_field_value(header.value)) {
      append_raw(out, header.name, header.value);
    }
  }
}

}  // namespace

void append_percent_encoded(std::string_view value, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  // Which bytes go out as they are: visible ASCII but '"' and '%' (a table, as every request
  // has several attributes to encode).
  static constexpr auto kPlain = [] {
    std::array<bool, 256> plain{};
    for (int byte = 0x21; byte <= 0x7e; ++byte) plain[static_cast<std::size_t>(byte)] = true;
    plain['"'] = false;
    plain['%'] = false;
    return plain;
  }();
  auto plain = [](char c) { return kPlain[static_cast<unsigned char>(c)]; };
  // Runs of plain characters are appended whole: an id or a source is usually a single run.
  auto it = value.begin();
  while (it != value.end()) {
    const auto run_end = std::find_if_not(it, value.end(), plain);
    out.append(it, run_end);
    if (run_end == value.end()) break;
    const auto byte = static_cast<unsigned char>(*run_end);
    const char escaped[3] = {'%', kHex[byte >> 4], kHex[byte & 0xf]};
    out.append(escaped, 3);
    it = run_end + 1;
  }
}

std::string make_fixed_head(const config::HttpUrl& url,
                            const std::vector<std::pair<std::string, config::Secret>>& headers) {
  std::string out;
  out.append("POST ").append(url.target.empty() ? std::string_view("/") : url.target);
  out.append(" HTTP/1.1\r\nHost: ");
  const bool ipv6 = url.host.find(':') != std::string::npos;
  if (ipv6) out.push_back('[');
  out.append(url.host);
  if (ipv6) out.push_back(']');
  if (url.port != (url.https ? 443 : 80)) {  // the scheme's own port goes without saying
    out.push_back(':');
    append_decimal(out, url.port);
  }
  out.append(kCrlf);
  append_raw(out, "User-Agent", "triggerd/" TRIGGERD_VERSION);
  append_raw(out, "Connection", "keep-alive");
  for (const auto& [name, value] : headers) {
    // The config loader refuses such headers already; this keeps the framing safe regardless.
    if (is_http_token(name) && is_field_value(value.reveal()))
      append_raw(out, name, value.reveal());
  }
  return out;
}

void append_event_headers(const Event& event, std::span<const ExtraHeader> extra,
                          std::string& out) {
  append_raw(out, "ce-specversion", "1.0");
  append_encoded(out, "ce-id", event.id);
  append_encoded(out, "ce-source", event.source);
  append_encoded(out, "ce-type", event.type);
  out.append("ce-time: ");
  append_rfc3339(event.time, out);
  out.append(kCrlf);
  if (!event.subject.empty()) append_encoded(out, "ce-subject", event.subject);
  const bool usable_content_type =
      !event.content_type.empty() && is_field_value(event.content_type);
  append_raw(out, "Content-Type",
             usable_content_type ? std::string_view(event.content_type)
                                 : std::string_view("application/octet-stream"));
  for (const auto& [name, value] : event.attributes) {
    // A name outside the CloudEvents rule could smuggle a ':' or a line break into the head.
    if (!is_cloudevents_attribute_name(name) || collides(name, extra)) continue;
    out.append("ce-").append(name).append(": ");
    append_percent_encoded(value, out);
    out.append(kCrlf);
  }
  append_extra_headers(extra, out);
  if (!event.traceparent.empty() && is_field_value(event.traceparent)) {
    append_raw(out, "traceparent", event.traceparent);
    if (!event.tracestate.empty() && is_field_value(event.tracestate)) {
      append_raw(out, "tracestate", event.tracestate);
    }
  }
  out.append("Content-Length: ");
  append_decimal(out, event.data.size());
  out.append(kCrlf).append(kCrlf);
}

void append_body_headers(std::string_view content_type, std::size_t body_size,
                         std::span<const ExtraHeader> extra, std::string& out) {
  if (is_field_value(content_type)) append_raw(out, "Content-Type", content_type);
  append_extra_headers(extra, out);
  out.append("Content-Length: ");
  append_decimal(out, body_size);
  out.append(kCrlf).append(kCrlf);
}

}  // namespace triggerd
