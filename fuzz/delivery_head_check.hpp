#pragma once
// What every event target asks of the events its source builds: the request head that delivers
// one (the dispatcher's append_event_headers) is a single well-formed HTTP request head, with
// one Content-Type and one Content-Length (the data's size), and every ce-* field named by the
// CloudEvents rule. Sources copy bytes from outside into attributes; an attribute that carried
// a line break into the head would show here as an extra or a broken field.
#include <array>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>

#include "core/cloudevents.hpp"
#include "core/event.hpp"
#include "core/text.hpp"
#include "dispatcher/request_head.hpp"

namespace triggerd::fuzz {

[[noreturn]] inline void fail_head(const char* why, const std::string& head) {
  std::fprintf(stderr, "delivery head check failed: %s\n--- head ---\n%s\n", why, head.c_str());
  std::abort();
}

inline void check_delivery_head(const Event& event) {
  namespace http = boost::beast::http;
  std::string head = "POST /fn HTTP/1.1\r\nHost: function\r\n";
  const std::array<ExtraHeader, 2> extra{{{"ce-trigger", "fuzz"}, {"ce-attempt", "1"}}};
  append_event_headers(event, extra, head);

  http::request_parser<http::empty_body> parser;
  parser.header_limit(std::numeric_limits<std::uint32_t>::max());
  boost::system::error_code error;
  const std::size_t used = parser.put(boost::asio::buffer(head), error);
  if (error && error != http::error::need_more) fail_head("not a valid request head", head);
  if (!parser.is_header_done() || used != head.size()) {
    fail_head("the head ends before its last byte", head);
  }
  const auto length = parser.content_length();
  if (!length || *length != event.data.size()) fail_head("wrong Content-Length", head);

  int content_types = 0;
  for (const auto& field : parser.get()) {
    const std::string_view name = field.name_string();
    if (equals_ignoring_case(name, "content-type")) ++content_types;
    if (name.size() > 3 && starts_with_ignoring_case(name, "ce-") &&
        !is_cloudevents_attribute_name(name.substr(3))) {
      fail_head("a ce-* field outside the CloudEvents naming rule", head);
    }
  }
  if (content_types != 1) fail_head("not exactly one Content-Type", head);
}

}  // namespace triggerd::fuzz
