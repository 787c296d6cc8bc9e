#include "dispatcher/batch_body.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <gtest/gtest.h>

#include <string>

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
  event.data = R"({"total": 12})";
  event.time = sys_days{year{2026} / 11 / 28} + 10h + 123ms;
  return event;
}

// One event as the function reads it: the JSON object it parses out of the body.
boost::json::object structured(const Event& event, int attempt = 1) {
  std::string body;
  append_structured_event(event, "orders", attempt, body);
  boost::system::error_code error;
  boost::json::value value = boost::json::parse(body, error);
  EXPECT_FALSE(error) << body;
  return value.is_object() ? value.as_object() : boost::json::object();
}

std::string text(const boost::json::object& object, std::string_view key) {
  const boost::json::value* value = object.if_contains(key);
  return value != nullptr && value->is_string() ? std::string(value->get_string()) : "(none)";
}

TEST(BatchBody, CarriesEveryAttributeTheTriggerAndTheAttempt) {
  Event event = sample_event();
  event.attributes = {{"priority", "high"}, {"dataschema", "https://example.com/s"}};
  event.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  const boost::json::object object = structured(event, 3);
  EXPECT_EQ(text(object, "specversion"), "1.0");
  EXPECT_EQ(text(object, "id"), "orders-0-42");
  EXPECT_EQ(text(object, "source"), "kafka://main-kafka/orders");
  EXPECT_EQ(text(object, "type"), "dev.triggerd.kafka.message");
  EXPECT_EQ(text(object, "subject"), "customer 7");
  EXPECT_EQ(text(object, "time"), "2026-11-28T10:00:00.123Z");
  EXPECT_EQ(text(object, "datacontenttype"), "application/json");
  EXPECT_EQ(text(object, "priority"), "high");
  EXPECT_EQ(text(object, "dataschema"), "https://example.com/s");
  EXPECT_EQ(text(object, "traceparent"), event.traceparent);
  EXPECT_EQ(text(object, "trigger"), "orders");
  EXPECT_EQ(text(object, "attempt"), "3");
  // JSON data is the value itself, not a string holding it.
  EXPECT_EQ(object.at("data").at("total"), 12);
  EXPECT_FALSE(object.contains("data_base64"));
}

TEST(BatchBody, DataThatIsNotJsonGoesAsBase64) {
  Event event = sample_event();
  event.content_type = "application/octet-stream";
  event.data = std::string("\x00\xff\x10zq", 5);
  EXPECT_EQ(text(structured(event), "data_base64"), "AP8QenE=");
  event.data = "ab";
  EXPECT_EQ(text(structured(event), "data_base64"), "YWI=");
  event.data = "abc";
  EXPECT_EQ(text(structured(event), "data_base64"), "YWJj");

  // A JSON content type whose data does not parse cannot be inlined either.
  event.content_type = "application/json";
  event.data = "{not json";
  EXPECT_EQ(text(structured(event), "data_base64"), "e25vdCBqc29u");
  EXPECT_FALSE(structured(event).contains("data"));

  event.data = "";
  EXPECT_FALSE(structured(event).contains("data"));
  EXPECT_FALSE(structured(event).contains("data_base64"));
}

TEST(BatchBody, KnowsJsonContentTypes) {
  EXPECT_TRUE(is_json_content_type("application/json"));
  EXPECT_TRUE(is_json_content_type("Application/JSON; charset=utf-8"));
  EXPECT_TRUE(is_json_content_type("text/json"));
  EXPECT_TRUE(is_json_content_type("application/cloudevents+json"));
  EXPECT_TRUE(is_json_content_type("application/vnd.api+json ;x=1"));
  EXPECT_FALSE(is_json_content_type(""));
  EXPECT_FALSE(is_json_content_type("text/plain"));
  EXPECT_FALSE(is_json_content_type("application/jsonl"));
  EXPECT_FALSE(is_json_content_type("+json"));
}

TEST(BatchBody, AnyBytesInAttributesStayValidJson) {
  Event event = sample_event();
  event.subject = std::string("quote\" back\\ nl\n tab\t nul\0 bad\xff\xc3 ok\xc3\xa9", 38);
  event.id = "\xf0\x9f\x98\x80";  // an emoji, 4 bytes
  const boost::json::object object = structured(event);
  EXPECT_EQ(text(object, "subject"),
            std::string("quote\" back\\ nl\n tab\t nul\0 bad\xef\xbf\xbd\xef\xbf\xbd ok\xc3\xa9", 42));
  EXPECT_EQ(text(object, "id"), "\xf0\x9f\x98\x80");
}

TEST(BatchBody, AttributesCannotPoseAsTheBatchsOwn) {
  Event event = sample_event();
  event.attributes = {{"trigger", "other"}, {"attempt", "99"}, {"id", "x"}, {"Bad-Name", "v"}};
  const boost::json::object object = structured(event, 2);
  EXPECT_EQ(text(object, "trigger"), "orders");
  EXPECT_EQ(text(object, "attempt"), "2");
  EXPECT_EQ(text(object, "id"), "orders-0-42");
  EXPECT_FALSE(object.contains("Bad-Name"));
}

TEST(BatchBody, SizeBoundHoldsForOrdinaryEvents) {
  Event event = sample_event();
  event.content_type = "application/octet-stream";
  event.data = std::string(1000, 'x');
  event.attributes = {{"priority", "high"}};
  std::string body;
  append_structured_event(event, "orders", 12, body);
  EXPECT_LE(body.size(), structured_size_bound(event, "orders"));
  EXPECT_GE(body.size() * 2, structured_size_bound(event, "orders"));
}

}  // namespace
}  // namespace triggerd
