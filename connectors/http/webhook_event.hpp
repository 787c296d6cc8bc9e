#pragma once
// How a webhook request becomes an Event (docs/delivery.md). Three cases:
//
// - A plain request: ce-type dev.triggerd.http.request, ce-source the path, a generated id,
//   the body byte for byte with the request's Content-Type.
// - A CloudEvent in binary mode (ce-specversion, ce-id, ce-source, ce-type headers): it keeps
//   its own attributes; the body is its data.
// - A CloudEvent in structured mode (Content-Type application/cloudevents+json): attributes
//   and data come from the JSON object in the body.
//
// Pure: no I/O and no Beast, so that the rules can be tested without a server.
#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/event.hpp"

namespace triggerd {

inline constexpr std::string_view kWebhookEventType = "dev.triggerd.http.request";

struct WebhookHeader {
  std::string_view name;
  std::string_view value;
};

// The first header named `name` (compared without regard to case), if any.
std::optional<std::string_view> find_header(std::span<const WebhookHeader> headers,
                                            std::string_view name);

struct WebhookRequest {
  std::string_view path;                   // the route's path: a plain request's ce-source
  std::span<const WebhookHeader> headers;  // as received
  std::string body;                        // moved into the event
};

struct WebhookEventResult {
  Event event;        // meaningful only when ok()
  std::string error;  // why the request is not a valid CloudEvent: the 400 answer's message
  bool ok() const { return error.empty(); }
};

// `now` is the time of a plain request, and of a CloudEvent that has no time attribute.
WebhookEventResult make_webhook_event(WebhookRequest request,
                                      std::chrono::system_clock::time_point now);

}  // namespace triggerd
