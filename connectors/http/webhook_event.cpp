#include "connectors/http/webhook_event.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/cloudevents.hpp"
#include "core/text.hpp"
#include "core/time_format.hpp"

namespace triggerd {
namespace {

namespace json = boost::json;
using Clock = std::chrono::system_clock;

constexpr std::string_view kSpecVersion = "1.0";
constexpr std::string_view kStructuredMediaType = "application/cloudevents+json";
constexpr std::string_view kBatchMediaType = "application/cloudevents-batch+json";
constexpr std::string_view kJsonMediaType = "application/json";
// Error messages quote what a client sent only up to this length: enough to find the typo,
// not enough to turn a 400 into an echo service.
constexpr std::size_t kMaxQuotedLength = 64;

// "Application/JSON; charset=utf-8" -> "application/json".
std::string media_type(std::string_view content_type) {
  return to_ascii_lower(trim_whitespace(content_type.substr(0, content_type.find(';'))));
}

bool is_json_media_type(std::string_view content_type) {
  const std::string type = media_type(content_type);
  return type == kJsonMediaType || type == "text/json" || type.ends_with("+json");
}

std::string_view view(const json::string& text) { return {text.data(), text.size()}; }

// The CloudEvents HTTP binding percent-encodes header values that are not printable ASCII.
// A '%' not followed by two hex digits is taken literally, as senders that encode nothing
// would mean it.
std::string percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      const int high = hex_value(text[i + 1]);
      const int low = hex_value(text[i + 2]);
      if (high >= 0 && low >= 0) {
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

// Collects a CloudEvent's attributes from headers or JSON members, with the checks both modes
// share; `describe` names an attribute the way the client wrote it, for error messages.
class CloudEventBuilder {
 public:
  using Describe = std::string (*)(std::string_view name);

  CloudEventBuilder(Event& event, Describe describe) : event_(event), describe_(describe) {}

  const std::string& error() const { return error_; }

  bool set(std::string_view name, std::string value) {
    if (!is_cloudevents_attribute_name(name)) {
      return fail("attribute name " + quote_excerpt(name, kMaxQuotedLength) +
                  " is not lower-case letters and digits (CloudEvents 1.0)");
    }
    if (std::find(seen_.begin(), seen_.end(), name) != seen_.end()) {
      return fail(describe_(name) + " is given more than once");
    }
    seen_.emplace_back(name);
    if (has_control_characters(value)) {
      return fail(describe_(name) + " contains control characters");
    }
    if (name == "specversion") {
      if (value != kSpecVersion) {
        return fail("specversion " + quote_excerpt(value, kMaxQuotedLength) +
                    " is not supported; triggerd takes CloudEvents 1.0");
      }
      has_specversion_ = true;
    } else if (name == "time") {
      const auto time = parse_rfc3339(value);
      if (!time) return fail(describe_(name) + " is not an RFC 3339 timestamp");
      event_.time = *time;
    } else if (name == "trigger" || name == "attempt") {
      // triggerd's own extensions, set on delivery; the function would otherwise get two.
    } else if (std::string* member = attribute_member(event_, name)) {
      *member = std::move(value);
    } else {
      event_.attributes.emplace_back(std::string(name), std::move(value));
    }
    return true;
  }

  // Whether the required attributes are all there.
  bool finish() {
    if (!has_specversion_) return fail("lacks " + describe_("specversion"));
    if (event_.id.empty()) return fail("lacks " + describe_("id") + " (or it is empty)");
    if (event_.source.empty()) {
      return fail("lacks " + describe_("source") + " (or it is empty)");
    }
    if (event_.type.empty()) return fail("lacks " + describe_("type") + " (or it is empty)");
    return true;
  }

  bool fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }

 private:
  Event& event_;
  Describe describe_;
  std::vector<std::string> seen_;
  bool has_specversion_ = false;
  std::string error_;
};

std::string describe_header(std::string_view name) { return "header ce-" + std::string(name); }
std::string describe_member(std::string_view name) { return "\"" + std::string(name) + "\""; }

bool is_binary_cloud_event(std::span<const WebhookHeader> headers) {
  for (std::string_view required : {"ce-specversion", "ce-id", "ce-source", "ce-type"}) {
    if (find_header(headers, required)) return true;
  }
  return false;
}

void take_trace_context(std::span<const WebhookHeader> headers, Event& event) {
  if (event.traceparent.empty()) {
    event.traceparent = std::string(find_header(headers, "traceparent").value_or(""));
  }
  if (event.tracestate.empty()) {
    event.tracestate = std::string(find_header(headers, "tracestate").value_or(""));
  }
}

WebhookEventResult binary_event(WebhookRequest& request, Clock::time_point now) {
  WebhookEventResult result;
  Event& event = result.event;
  event.time = now;
  CloudEventBuilder builder(event, describe_header);
  for (const WebhookHeader& header : request.headers) {
    if (header.name.size() <= 3 || !starts_with_ignoring_case(header.name, "ce-")) continue;
    if (!builder.set(to_ascii_lower(header.name.substr(3)), percent_decode(header.value))) break;
  }
  if (builder.error().empty()) builder.finish();
  if (!builder.error().empty()) {
    result.error = "binary-mode CloudEvent: " + builder.error();
    return result;
  }
  // The binding puts datacontenttype in Content-Type; ce-datacontenttype only fills in.
  if (auto content_type = find_header(request.headers, "content-type")) {
    event.content_type = std::string(*content_type);
  }
  event.data = std::move(request.body);
  take_trace_context(request.headers, event);
  return result;
}

// A JSON member as an attribute value: CloudEvents attributes are strings, integers or
// booleans; null means absent.
std::optional<std::string> attribute_text(const json::value& value) {
  switch (value.kind()) {
    case json::kind::string:
      return std::string(view(value.get_string()));
    case json::kind::int64:
      return std::to_string(value.get_int64());
    case json::kind::uint64:
      return std::to_string(value.get_uint64());
    case json::kind::bool_:
      return std::string(value.get_bool() ? "true" : "false");
    default:
      return std::nullopt;
  }
}

bool must_be_string(std::string_view name) {
  static constexpr std::array<std::string_view, 8> kStringAttributes = {
      "specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema"};
  return std::find(kStringAttributes.begin(), kStringAttributes.end(), name) !=
         kStringAttributes.end();
}

WebhookEventResult structured_event(WebhookRequest& request, Clock::time_point now) {
  WebhookEventResult result;
  Event& event = result.event;
  event.time = now;
  auto fail = [&](std::string message) {
    result.error = "structured CloudEvent: " + std::move(message);
    return std::move(result);
  };
  boost::system::error_code parse_error;
  const json::value parsed = json::parse(request.body, parse_error);
  if (parse_error) return fail("the body is not valid JSON: " + parse_error.message());
  const json::object* object = parsed.if_object();
  if (object == nullptr) return fail("the body is not a JSON object");

  CloudEventBuilder builder(event, describe_member);
  const json::value* data = nullptr;
  const json::value* data_base64 = nullptr;
  for (const auto& member : *object) {
    const std::string_view name = member.key();
    const json::value& value = member.value();
    if (name == "data") {
      data = value.is_null() ? nullptr : &value;
      continue;
    }
    if (name == "data_base64") {
      data_base64 = value.is_null() ? nullptr : &value;
      continue;
    }
    if (value.is_null()) continue;
    if (must_be_string(name) && !value.is_string()) {
      builder.fail(describe_member(name) + " must be a string");
      break;
    }
    std::optional<std::string> text = attribute_text(value);
    if (!text) {
      builder.fail(describe_member(name) + " must be a string, an integer or a boolean");
      break;
    }
    if (!builder.set(name, std::move(*text))) break;
  }
  if (builder.error().empty()) builder.finish();
  if (!builder.error().empty()) return fail(builder.error());

  if (data != nullptr && data_base64 != nullptr) {
    return fail("has both \"data\" and \"data_base64\"");
  }
  if (data_base64 != nullptr) {
    const json::string* encoded = data_base64->if_string();
    std::optional<std::string> decoded;
    if (encoded != nullptr) decoded = base64_decode(view(*encoded));
    if (!decoded) return fail("\"data_base64\" is not a base64 string");
    event.data = std::move(*decoded);
  } else if (data != nullptr) {
    if (data->is_string() && !event.content_type.empty() &&
        !is_json_media_type(event.content_type)) {
      // E.g. text/plain or XML carried in a JSON string: the function wants the text itself.
      event.data = std::string(view(data->get_string()));
    } else {
      event.data = json::serialize(*data);
      if (event.content_type.empty()) event.content_type = std::string(kJsonMediaType);
    }
  }
  take_trace_context(request.headers, event);
  return result;
}

}  // namespace

std::optional<std::string_view> find_header(std::span<const WebhookHeader> headers,
                                            std::string_view name) {
  for (const WebhookHeader& header : headers) {
    if (equals_ignoring_case(header.name, name)) return header.value;
  }
  return std::nullopt;
}

WebhookEventResult make_webhook_event(WebhookRequest request, Clock::time_point now) {
  const std::optional<std::string_view> content_type = find_header(request.headers, "content-type");
  if (content_type) {
    const std::string type = media_type(*content_type);
    if (type == kStructuredMediaType) return structured_event(request, now);
    if (type == kBatchMediaType) {
      WebhookEventResult result;
      result.error = "batched CloudEvents (" + std::string(kBatchMediaType) +
                     ") are not supported; send one event per request";
      return result;
    }
  }
  if (is_binary_cloud_event(request.headers)) return binary_event(request, now);

  WebhookEventResult result;
  Event& event = result.event;
  event.id = generate_event_id();
  event.source = std::string(request.path);
  event.type = std::string(kWebhookEventType);
  event.content_type = std::string(content_type.value_or(""));
  event.data = std::move(request.body);
  event.time = now;
  take_trace_context(request.headers, event);
  return result;
}

}  // namespace triggerd
