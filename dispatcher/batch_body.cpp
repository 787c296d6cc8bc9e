#include "dispatcher/batch_body.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>

#include <array>
#include <charconv>
#include <cstdint>

#include "core/cloudevents.hpp"
#include "core/text.hpp"
#include "core/time_format.hpp"

namespace triggerd {
namespace {

// The length of the valid UTF-8 sequence at the start of `text` (1-4), or 0 if there is none
// (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
std::size_t utf8_sequence(std::string_view text) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xbf;  // the bounds of the second byte
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead == 0xe0) low = 0xa0;
    if (lead == 0xed) high = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead == 0xf0) low = 0x90;
    if (lead == 0xf4) high = 0x8f;
  } else {
    return 0;
  }
  if (text.size() < length || byte(1) < low || byte(1) > high) return 0;
  for (std::size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xbf) return 0;
  }
  return length;
}

// The bytes that go into a JSON string as they are: printable ASCII but '"' and '\\'.
constexpr auto kJsonPlain = [] {
  std::array<bool, 256> plain{};
  for (int byte = 0x20; byte < 0x80; ++byte) plain[static_cast<std::size_t>(byte)] = true;
  plain['"'] = false;
  plain['\\'] = false;
  return plain;
}();

void append_json_string(std::string_view text, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (kJsonPlain[c]) {
      // A run of plain ASCII goes in one append: most attribute values are one run.
      std::size_t end = i + 1;
      while (end < text.size() && kJsonPlain[static_cast<unsigned char>(text[end])]) ++end;
      out.append(text.substr(i, end - i));
      i = end;
      continue;
    }
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
      ++i;
    } else if (c < 0x20) {
      const char escaped[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
      out.append(escaped, 6);
      ++i;
    } else if (const std::size_t length = utf8_sequence(text.substr(i)); length > 0) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out.append("\\ufffd");
      ++i;
    }
  }
  out.push_back('"');
}

void append_member(std::string_view name, std::string_view value, std::string& out) {
  out.push_back(',');
  append_json_string(name, out);
  out.push_back(':');
  append_json_string(value, out);
}

void append_base64(std::string_view data, std::string& out) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  // Written in place: the data is most of a batch's bytes.
  const std::size_t start = out.size();
  out.resize(start + 2 + (data.size() + 2) / 3 * 4);
  char* to = out.data() + start;
  *to++ = '"';
  const auto* from = reinterpret_cast<const unsigned char*>(data.data());
  const unsigned char* const whole_end = from + data.size() / 3 * 3;
  for (; from != whole_end; from += 3) {
    const std::uint32_t bits = (std::uint32_t{from[0]} << 16) | (std::uint32_t{from[1]} << 8) |
                               std::uint32_t{from[2]};
    to[0] = kAlphabet[bits >> 18];
    to[1] = kAlphabet[(bits >> 12) & 0x3f];
    to[2] = kAlphabet[(bits >> 6) & 0x3f];
    to[3] = kAlphabet[bits & 0x3f];
    to += 4;
  }
  if (const std::size_t rest = data.size() % 3; rest > 0) {
    const std::uint32_t bits =
        (std::uint32_t{from[0]} << 16) | (rest == 2 ? std::uint32_t{from[1]} << 8 : 0);
    to[0] = kAlphabet[bits >> 18];
    to[1] = kAlphabet[(bits >> 12) & 0x3f];
    to[2] = rest == 2 ? kAlphabet[(bits >> 6) & 0x3f] : '=';
    to[3] = '=';
    to += 4;
  }
  *to = '"';
}

// Whether `data` is one JSON value (Boost.JSON also checks that its strings are UTF-8). Small
// documents parse in a stack buffer, without touching the heap.
bool is_json(std::string_view data) {
  std::array<unsigned char, 4096> buffer;
  boost::json::monotonic_resource memory(buffer.data(), buffer.size());
  boost::system::error_code error;
  boost::json::parse(data, error, &memory);
  return !error;
}

}  // namespace

bool is_json_content_type(std::string_view content_type) {
  std::string_view type = trim_whitespace(content_type.substr(0, content_type.find(';')));
  if (equals_ignoring_case(type, "application/json") || equals_ignoring_case(type, "text/json")) {
    return true;
  }
  return type.size() > 5 && type.find('/') != std::string_view::npos &&
         equals_ignoring_case(type.substr(type.size() - 5), "+json");
}

void append_structured_event(const Event& event, std::string_view trigger, int attempt,
                             std::string& out) {
  out.append(R"({"specversion":"1.0")");
  append_member("id", event.id, out);
  append_member("source", event.source, out);
  append_member("type", event.type, out);
  out.append(R"(,"time":")");
  append_rfc3339(event.time, out);
  out.push_back('"');
  if (!event.subject.empty()) append_member("subject", event.subject, out);
  if (!event.content_type.empty()) append_member("datacontenttype", event.content_type, out);
  for (const auto& [name, value] : event.attributes) {
    // The batch's own members, and names outside the CloudEvents rule, are left out (as in
    // binary mode): an event's attribute cannot pose as triggerd's trigger or attempt.
    if (!is_cloudevents_attribute_name(name) || name == "specversion" || name == "id" ||
        name == "source" || name == "type" || name == "time" || name == "subject" ||
        name == "datacontenttype" || name == "data" || name == "trigger" || name == "attempt") {
      continue;
    }
    append_member(name, value, out);
  }
  if (!event.traceparent.empty()) {
    append_member("traceparent", event.traceparent, out);
    if (!event.tracestate.empty()) append_member("tracestate", event.tracestate, out);
  }
  append_member("trigger", trigger, out);
  out.append(R"(,"attempt":")");
  std::array<char, 16> digits{};
  const char* end = std::to_chars(digits.data(), digits.data() + digits.size(), attempt).ptr;
  out.append(digits.data(), static_cast<std::size_t>(end - digits.data())).push_back('"');
  const std::string_view data = event.data.view();
  if (!data.empty()) {
    if (is_json_content_type(event.content_type) && is_json(data)) {
      out.append(R"(,"data":)").append(data);
    } else {
      out.append(R"(,"data_base64":)");
      append_base64(data, out);
    }
  }
  out.push_back('}');
}

std::size_t structured_size_bound(const Event& event, std::string_view trigger) {
  // Escaping can make a string up to six times longer (\u00XX); ordinary text stays about as
  // it is. The bound counts attribute strings twice over and the data a third larger, which
  // holds for everything but strings full of control characters: max_bytes is a budget, not
  // a protocol limit.
  std::size_t strings = event.id.size() + event.source.size() + event.type.size() +
                        event.subject.size() + event.content_type.size() +
                        event.traceparent.size() + event.tracestate.size() + trigger.size();
  for (const auto& [name, value] : event.attributes) strings += name.size() + value.size() + 6;
  return 200 + 2 * strings + (event.data.size() + 2) / 3 * 4;
}

}  // namespace triggerd
