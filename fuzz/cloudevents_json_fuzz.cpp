// A structured-mode CloudEvent (Content-Type: application/cloudevents+json): the request body
// as JSON, through the webhook's event rules (make_webhook_event). A body is either an event or
// a 400 with a reason. An event has an id, a source and a type; every attribute has a name by
// the CloudEvents rule and a value without control characters (attribute values become header
// values on delivery); and its delivery head cannot be broken (delivery_head_check.hpp).
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "connectors/http/webhook_event.hpp"
#include "core/cloudevents.hpp"
#include "delivery_head_check.hpp"

namespace {

[[noreturn]] void fail(const char* why) {
  std::fprintf(stderr, "structured CloudEvent: %s\n", why);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::array<triggerd::WebhookHeader, 2> kHeaders{{
      {"Content-Type", "application/cloudevents+json; charset=utf-8"},
      {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
  }};
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  triggerd::WebhookEventResult result = triggerd::make_webhook_event(
      {"/hook", kHeaders, std::string(reinterpret_cast<const char*>(data), size)}, now);
  if (!result.ok()) return 0;

  const triggerd::Event& event = result.event;
  if (event.id.empty() || event.source.empty() || event.type.empty()) {
    fail("an event without id, source or type");
  }
  for (const std::string* value : {&event.id, &event.source, &event.type, &event.subject,
                                   &event.content_type, &event.traceparent, &event.tracestate}) {
    if (triggerd::has_control_characters(*value)) fail("control characters in an attribute");
  }
  for (const auto& [name, value] : event.attributes) {
    if (!triggerd::is_cloudevents_attribute_name(name)) fail("an attribute with a bad name");
    if (triggerd::has_control_characters(value)) fail("control characters in an extension");
  }
  triggerd::fuzz::check_delivery_head(event);
  return 0;
}
