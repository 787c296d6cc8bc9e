#include "dispatcher/request_head.hpp"

#include <gtest/gtest.h>

#include <array>

namespace triggerd {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

Event sample_event() {
  Event event;
  event.id = "orders-0-42";
  event.source = "kafka://main-kafka/orders";
  event.type = "dev.triggerd.kafka.message";
  event.subject = "customer 7";
  event.content_type = "application/json";
  event.data = "{\"total\":12}";
  event.time = sys_days{year{2026} / 11 / 28} + 10h + 123ms;
  return event;
}

std::string event_head(const Event& event, std::span<const ExtraHeader> extra = {}) {
  std::string out;
  append_event_headers(event, extra, out);
  return out;
}

TEST(RequestHead, FixedPartCarriesRequestLineHostAndConfiguredHeaders) {
  const config::HttpUrl url{"http://fn.default.svc:9000/resize?x=1", "fn.default.svc", 9000,
                            "/resize?x=1"};
  const std::string head =
      make_fixed_head(url, {{"Authorization", config::Secret("Bearer t0ken")}});
  EXPECT_EQ(head,
            "POST /resize?x=1 HTTP/1.1\r\n"
            "Host: fn.default.svc:9000\r\n"
            "User-Agent: triggerd/" TRIGGERD_VERSION
            "\r\n"
            "Connection: keep-alive\r\n"
            "Authorization: Bearer t0ken\r\n");
}

TEST(RequestHead, HostLeavesOutTheSchemesOwnPortAndBracketsIpv6) {
  EXPECT_TRUE(make_fixed_head({"http://fn/", "fn", 80, "/"}, {})
                  .starts_with("POST / HTTP/1.1\r\nHost: fn\r\n"));
  EXPECT_TRUE(make_fixed_head({"http://[::1]:8080/", "::1", 8080, "/"}, {})
                  .starts_with("POST / HTTP/1.1\r\nHost: [::1]:8080\r\n"));
  EXPECT_TRUE(make_fixed_head({"https://fn.example/", "fn.example", 443, "/", true}, {})
                  .starts_with("POST / HTTP/1.1\r\nHost: fn.example\r\n"));
  EXPECT_TRUE(make_fixed_head({"https://fn.example:80/", "fn.example", 80, "/", true}, {})
                  .starts_with("POST / HTTP/1.1\r\nHost: fn.example:80\r\n"));
  EXPECT_TRUE(make_fixed_head({"http://fn.example:443/", "fn.example", 443, "/"}, {})
                  .starts_with("POST / HTTP/1.1\r\nHost: fn.example:443\r\n"));
}

TEST(RequestHead, EventPartIsCloudEventsBinaryMode) {
  Event event = sample_event();
  event.attributes = {{"partitionkey", "p-1"}, {"dataschema", "https://example.com/s"}};
  event.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  event.tracestate = "congo=t61rcWkgMzE";
  const std::array<ExtraHeader, 2> extra{{{"ce-trigger", "orders"}, {"ce-attempt", "2"}}};
  EXPECT_EQ(event_head(event, extra),
            "ce-specversion: 1.0\r\n"
            "ce-id: orders-0-42\r\n"
            "ce-source: kafka://main-kafka/orders\r\n"
            "ce-type: dev.triggerd.kafka.message\r\n"
            "ce-time: 2026-11-28T10:00:00.123Z\r\n"
            "ce-subject: customer%207\r\n"
            "Content-Type: application/json\r\n"
            "ce-partitionkey: p-1\r\n"
            "ce-dataschema: https://example.com/s\r\n"
            "ce-trigger: orders\r\n"
            "ce-attempt: 2\r\n"
            "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"
            "tracestate: congo=t61rcWkgMzE\r\n"
            "Content-Length: 12\r\n"
            "\r\n");
}

TEST(RequestHead, LeavesOutEmptySubjectAndDefaultsContentType) {
  Event event = sample_event();
  event.subject.clear();
  event.content_type.clear();
  const std::string head = event_head(event);
  EXPECT_EQ(head.find("ce-subject"), std::string::npos);
  EXPECT_NE(head.find("Content-Type: application/octet-stream\r\n"), std::string::npos);
}

TEST(RequestHead, PercentEncodesAttributeValuesAsTheCloudEventsHttpBindingSays) {
  std::string out;
  append_percent_encoded("Euro \xE2\x82\xAC \xF0\x9F\x98\x80", out);
  EXPECT_EQ(out, "Euro%20%E2%82%AC%20%F0%9F%98%80");
  out.clear();
  append_percent_encoded("a\"b%c\r\n\x7f~!", out);
  EXPECT_EQ(out, "a%22b%25c%0D%0A%7F~!");
}

TEST(RequestHead, CannotBeSplitByHostileAttributes) {
  Event event = sample_event();
  event.id = "x\r\nX-Injected: 1";
  event.content_type = "text/plain\r\nX-Injected: 1";
  event.attributes = {{"bad\r\nname", "v"}, {"bad:name", "v"}, {"ok", "line\r\nX-Injected: 1"}};
  event.traceparent = "00-abc\r\nX-Injected: 1";
  const std::string head = event_head(event);
  EXPECT_EQ(head.find("\r\nX-Injected"), std::string::npos) << head;
  EXPECT_NE(head.find("ce-id: x%0D%0AX-Injected:%201\r\n"), std::string::npos);
  EXPECT_NE(head.find("Content-Type: application/octet-stream\r\n"), std::string::npos);
  EXPECT_NE(head.find("ce-ok: line%0D%0AX-Injected:%201\r\n"), std::string::npos);
  EXPECT_EQ(head.find("bad"), std::string::npos);
  EXPECT_EQ(head.find("traceparent"), std::string::npos);
}

// The sources hold incoming names to the same rule; this is the last line of defence for an
// event made some other way.
TEST(RequestHead, LeavesOutAttributeNamesOutsideTheCloudEventsRule) {
  Event event = sample_event();
  event.attributes = {{"partitionKey", "p"}, {"my-ext", "x"}, {"ext1", "v"}};
  const std::string head = event_head(event);
  EXPECT_NE(head.find("ce-ext1: v\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("partition"), std::string::npos) << head;
  EXPECT_EQ(head.find("my-ext"), std::string::npos) << head;
}

TEST(RequestHead, AttributesNeverDuplicateHeadersSetByTriggerd) {
  Event event = sample_event();
  event.attributes = {{"id", "other"},          {"specversion", "0.3"}, {"time", "x"},
                      {"datacontenttype", "x"}, {"trigger", "x"},       {"Attempt", "9"}};
  const std::array<ExtraHeader, 2> extra{{{"ce-trigger", "orders"}, {"ce-attempt", "1"}}};
  const std::string head = event_head(event, extra);
  for (const char* name : {"ce-id:", "ce-specversion:", "ce-time:", "ce-trigger:", "ce-attempt:"}) {
    const auto first = head.find(name);
    ASSERT_NE(first, std::string::npos) << name;
    EXPECT_EQ(head.find(name, first + 1), std::string::npos) << name << " twice in\n" << head;
  }
  EXPECT_EQ(head.find("ce-datacontenttype"), std::string::npos);
  EXPECT_EQ(head.find("ce-Attempt"), std::string::npos);
}

TEST(RequestHead, SendsTracestateOnlyWithATraceparent) {
  Event event = sample_event();
  event.tracestate = "congo=t61rcWkgMzE";
  EXPECT_EQ(event_head(event).find("tracestate"), std::string::npos);
}

TEST(RequestHead, ContentLengthCountsEveryByteOfTheData) {
  Event event = sample_event();
  event.data = std::string("\0\r\n\xff", 4);
  EXPECT_NE(event_head(event).find("Content-Length: 4\r\n\r\n"), std::string::npos);
}

}  // namespace
}  // namespace triggerd
