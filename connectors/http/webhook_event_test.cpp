#include "connectors/http/webhook_event.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace triggerd {
namespace {

using namespace std::string_literals;
using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

const Clock::time_point kNow =
    Clock::time_point(std::chrono::sys_days(std::chrono::year_month_day(
        std::chrono::year(2024), std::chrono::month(3), std::chrono::day(1)))) +
    12h;

WebhookEventResult map(std::vector<WebhookHeader> headers, std::string body) {
  return make_webhook_event({"/hooks/orders", headers, std::move(body)}, kNow);
}

std::string attribute(const Event& event, std::string_view name) {
  for (const auto& [key, value] : event.attributes) {
    if (key == name) return value;
  }
  return "<absent>";
}

Clock::time_point utc(int y, unsigned mo, unsigned d, int h, int mi, int s,
                      std::chrono::nanoseconds fraction = {}) {
  using namespace std::chrono;
  return time_point_cast<Clock::duration>(sys_days(year_month_day(year(y), month(mo), day(d))) +
                                          hours(h) + minutes(mi) + seconds(s) + fraction);
}

// Both modes' tests send the example event of the CloudEvents spec.
void expect_spec_example_identity(const Event& event) {
  EXPECT_EQ(event.id, "A234-1234-1234");
  EXPECT_EQ(event.source, "https://github.com/cloudevents/spec/pull");
  EXPECT_EQ(event.type, "com.github.pull_request.opened");
  EXPECT_EQ(event.subject, "123");
}

TEST(WebhookEvent, PlainRequestBecomesAnHttpRequestEvent) {
  const auto result =
      map({{"Content-Type", "text/plain; charset=utf-8"},
           {"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
           {"tracestate", "congo=t61rcWkgMzE"},
           {"X-Other", "x"}},
          "hello");
  ASSERT_TRUE(result.ok()) << result.error;
  const Event& event = result.event;
  EXPECT_EQ(event.type, "dev.triggerd.http.request");
  EXPECT_EQ(event.source, "/hooks/orders");
  EXPECT_EQ(event.id.size(), 36u);
  EXPECT_EQ(event.content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(event.data, "hello");
  EXPECT_EQ(event.time, kNow);
  EXPECT_EQ(event.subject, "");
  EXPECT_EQ(event.traceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  EXPECT_EQ(event.tracestate, "congo=t61rcWkgMzE");
  EXPECT_TRUE(event.attributes.empty());
}

TEST(WebhookEvent, PlainRequestKeepsTheBodyByteForByte) {
  const std::string body = "\0\x01\xff\r\n{\"a\":1}\0"s;
  const auto result = map({}, body);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.event.data, body);
  EXPECT_EQ(result.event.content_type, "");  // the dispatcher sends application/octet-stream
}

TEST(WebhookEvent, EachPlainRequestGetsItsOwnId) {
  EXPECT_NE(map({}, "").event.id, map({}, "").event.id);
}

TEST(WebhookEvent, BinaryCloudEventKeepsItsAttributes) {
  const auto result =
      map({{"CE-SpecVersion", "1.0"},
           {"ce-id", "A234-1234-1234"},
           {"ce-source", "https://github.com/cloudevents/spec/pull"},
           {"ce-type", "com.github.pull_request.opened"},
           {"ce-subject", "123"},
           {"ce-time", "2018-04-05T17:31:00Z"},
           {"ce-dataschema", "https://example.com/schema"},
           {"ce-comexampleextension1", "value"},
           {"ce-partitionkey", "caf%C3%A9%20au%20lait"},
           {"Content-Type", "application/xml"},
           {"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}},
          "<much wow=\"xml\"/>");
  ASSERT_TRUE(result.ok()) << result.error;
  const Event& event = result.event;
  expect_spec_example_identity(event);
  EXPECT_EQ(event.time, utc(2018, 4, 5, 17, 31, 0));
  EXPECT_EQ(event.content_type, "application/xml");
  EXPECT_EQ(event.data, "<much wow=\"xml\"/>");
  EXPECT_EQ(attribute(event, "dataschema"), "https://example.com/schema");
  EXPECT_EQ(attribute(event, "comexampleextension1"), "value");
  EXPECT_EQ(attribute(event, "partitionkey"), "café au lait");  // percent-decoded
  EXPECT_EQ(attribute(event, "specversion"), "<absent>");       // the dispatcher writes 1.0 itself
  EXPECT_EQ(event.attributes.size(), 3u);
  EXPECT_EQ(event.traceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
}

TEST(WebhookEvent, BinaryCloudEventWithoutTimeIsStampedNow) {
  const auto result =
      map({{"ce-specversion", "1.0"}, {"ce-id", "1"}, {"ce-source", "/s"}, {"ce-type", "t"}}, "");
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.event.time, kNow);
}

TEST(WebhookEvent, BinaryCloudEventDropsTriggerdsOwnExtensions) {
  const auto result = map({{"ce-specversion", "1.0"},
                           {"ce-id", "1"},
                           {"ce-source", "/s"},
                           {"ce-type", "t"},
                           {"ce-trigger", "other"},
                           {"ce-attempt", "7"}},
                          "");
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_TRUE(result.event.attributes.empty());
}

struct BadRequestCase {
  const char* name;
  std::vector<WebhookHeader> headers;
  std::string body;
  std::string error_mentions;
};

TEST(WebhookEvent, MalformedCloudEventsAreRefusedSayingWhatIsWrong) {
  const std::vector<WebhookHeader> binary = {
      {"ce-specversion", "1.0"}, {"ce-id", "1"}, {"ce-source", "/s"}, {"ce-type", "t"}};
  auto binary_with = [&](std::vector<WebhookHeader> more) {
    std::vector<WebhookHeader> headers = binary;
    headers.insert(headers.end(), more.begin(), more.end());
    return headers;
  };
  auto binary_without = [&](std::string_view name) {
    std::vector<WebhookHeader> headers;
    for (const auto& header : binary) {
      if (header.name != name) headers.push_back(header);
    }
    return headers;
  };
  const std::vector<WebhookHeader> structured = {{"Content-Type", "application/cloudevents+json"}};
  const BadRequestCase cases[] = {
      {"binary without id", binary_without("ce-id"), "", "ce-id"},
      {"binary without source", binary_without("ce-source"), "", "ce-source"},
      {"binary without type", binary_without("ce-type"), "", "ce-type"},
      {"binary without specversion", binary_without("ce-specversion"), "", "ce-specversion"},
      {"binary with an empty id",
       {{"ce-specversion", "1.0"}, {"ce-id", ""}, {"ce-source", "/s"}, {"ce-type", "t"}},
       "",
       "ce-id"},
      {"binary of another version",
       {{"ce-specversion", "0.3"}, {"ce-id", "1"}, {"ce-source", "/s"}, {"ce-type", "t"}},
       "",
       "0.3"},
      {"binary with a bad time", binary_with({{"ce-time", "yesterday"}}), "", "RFC 3339"},
      {"binary with an attribute given twice", binary_with({{"CE-ID", "2"}}), "", "more than once"},
      {"binary with an invalid attribute name", binary_with({{"ce-my-ext", "x"}}), "", "my-ext"},
      {"binary with an encoded line break", binary_with({{"ce-subject", "a%0D%0AX-Evil: 1"}}), "",
       "control characters"},
      {"structured, not JSON", structured, "{\"specversion\":", "not valid JSON"},
      {"structured, not an object", structured, "[1, 2]", "not a JSON object"},
      {"structured without id", structured, R"({"specversion":"1.0","source":"/s","type":"t"})",
       "\"id\""},
      {"structured without specversion", structured, R"({"id":"1","source":"/s","type":"t"})",
       "\"specversion\""},
      {"structured with a numeric id", structured,
       R"({"specversion":"1.0","id":1,"source":"/s","type":"t"})", "\"id\" must be a string"},
      {"structured with an object extension", structured,
       R"({"specversion":"1.0","id":"1","source":"/s","type":"t","ext":{}})", "\"ext\""},
      {"structured with an upper-case extension", structured,
       R"({"specversion":"1.0","id":"1","source":"/s","type":"t","Ext":"x"})", "Ext"},
      {"structured with a line break in an extension", structured,
       R"({"specversion":"1.0","id":"1","source":"/s","type":"t","ext":"a\r\nb"})",
       "control characters"},
      {"structured with both data forms", structured,
       R"({"specversion":"1.0","id":"1","source":"/s","type":"t","data":1,"data_base64":"AA=="})",
       "both"},
      {"structured with bad base64", structured,
       R"({"specversion":"1.0","id":"1","source":"/s","type":"t","data_base64":"A*=="})", "base64"},
      {"structured with a bad time", structured,
       R"({"specversion":"1.0","id":"1","source":"/s","type":"t","time":"2024-02-30T00:00:00Z"})",
       "RFC 3339"},
      {"a batch", {{"Content-Type", "application/cloudevents-batch+json"}}, "[]", "batch"},
  };
  for (const BadRequestCase& c : cases) {
    const auto result = map(c.headers, c.body);
    EXPECT_FALSE(result.ok()) << c.name;
    EXPECT_NE(result.error.find(c.error_mentions), std::string::npos)
        << c.name << ": " << result.error;
  }
}

TEST(WebhookEvent, StructuredCloudEventKeepsItsAttributesAndJsonData) {
  const auto result =
      map({{"Content-Type", "application/cloudevents+json; charset=utf-8"},
           {"traceparent", "00-11111111111111111111111111111111-2222222222222222-01"}},
          R"({
    "specversion": "1.0",
    "type": "com.github.pull_request.opened",
    "source": "https://github.com/cloudevents/spec/pull",
    "subject": "123",
    "id": "A234-1234-1234",
    "time": "2018-04-05T17:31:00.5+02:00",
    "comexampleextension1": "value",
    "comexampleothervalue": 5,
    "flag": true,
    "nothing": null,
    "dataschema": "https://example.com/schema",
    "data": {"pull": 42, "title": "Fix \"it\""}
  })");
  ASSERT_TRUE(result.ok()) << result.error;
  const Event& event = result.event;
  expect_spec_example_identity(event);
  EXPECT_EQ(event.time, utc(2018, 4, 5, 15, 31, 0, 500ms));
  EXPECT_EQ(event.content_type, "application/json");
  EXPECT_EQ(event.data, R"({"pull":42,"title":"Fix \"it\""})");
  EXPECT_EQ(attribute(event, "comexampleextension1"), "value");
  EXPECT_EQ(attribute(event, "comexampleothervalue"), "5");
  EXPECT_EQ(attribute(event, "flag"), "true");
  EXPECT_EQ(attribute(event, "nothing"), "<absent>");
  EXPECT_EQ(attribute(event, "dataschema"), "https://example.com/schema");
  EXPECT_EQ(event.attributes.size(), 4u);
  EXPECT_EQ(event.traceparent, "00-11111111111111111111111111111111-2222222222222222-01");
}

TEST(WebhookEvent, StructuredCloudEventsOwnTraceContextWinsOverTheRequests) {
  const auto result =
      map({{"Content-Type", "application/cloudevents+json"},
           {"traceparent", "00-11111111111111111111111111111111-2222222222222222-01"}},
          R"({"specversion":"1.0","id":"1","source":"/s","type":"t",
          "traceparent":"00-33333333333333333333333333333333-4444444444444444-01"})");
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.event.traceparent, "00-33333333333333333333333333333333-4444444444444444-01");
  EXPECT_TRUE(result.event.attributes.empty());
}

struct DataCase {
  const char* name;
  std::string members;  // JSON members after the required attributes
  std::string data;
  std::string content_type;
};

TEST(WebhookEvent, StructuredDataIsSentInTheFormItsContentTypeSays) {
  const DataCase cases[] = {
      {"JSON object, no content type", R"("data":{"a":[1,2]})", R"({"a":[1,2]})",
       "application/json"},
      {"JSON string, no content type", R"("data":"hi")", R"("hi")", "application/json"},
      {"JSON string, JSON content type", R"("datacontenttype":"application/json","data":"hi")",
       R"("hi")", "application/json"},
      {"string as text", R"("datacontenttype":"text/plain","data":"hi\nthere")", "hi\nthere",
       "text/plain"},
      {"string as XML", R"("datacontenttype":"application/xml","data":"<a/>")", "<a/>",
       "application/xml"},
      {"object with a +json type", R"("datacontenttype":"application/vnd.x+json","data":[1])",
       "[1]", "application/vnd.x+json"},
      {"base64 bytes", R"("datacontenttype":"image/png","data_base64":"AAH/gA==")",
       "\0\x01\xff\x80"s, "image/png"},
      {"base64 without padding", R"("data_base64":"AAH/gA")", "\0\x01\xff\x80"s, ""},
      {"base64 of nothing", R"("data_base64":"")", "", ""},
      {"no data", R"("datacontenttype":"text/plain")", "", "text/plain"},
      {"null data", R"("data":null)", "", ""},
  };
  for (const DataCase& c : cases) {
    const auto result =
        map({{"Content-Type", "application/cloudevents+json"}},
            R"({"specversion":"1.0","id":"1","source":"/s","type":"t",)" + c.members + "}");
    ASSERT_TRUE(result.ok()) << c.name << ": " << result.error;
    EXPECT_EQ(result.event.data, c.data) << c.name;
    EXPECT_EQ(result.event.content_type, c.content_type) << c.name;
    EXPECT_TRUE(result.event.attributes.empty()) << c.name;
  }
}

TEST(WebhookEvent, StructuredModeIgnoresCeHeaders) {
  const auto result = map({{"Content-Type", "application/cloudevents+json"}, {"ce-id", "header"}},
                          R"({"specversion":"1.0","id":"body","source":"/s","type":"t"})");
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.event.id, "body");
}

TEST(WebhookEvent, FindHeaderIgnoresCase) {
  const std::vector<WebhookHeader> headers = {{"Content-Type", "a"}, {"content-type", "b"}};
  EXPECT_EQ(find_header(headers, "CONTENT-TYPE"), "a");
  EXPECT_EQ(find_header(headers, "x"), std::nullopt);
}

}  // namespace
}  // namespace triggerd
