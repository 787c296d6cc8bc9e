#include "core/cloudevents.hpp"

#include <gtest/gtest.h>

#include <string>

namespace triggerd {
namespace {

using namespace std::string_literals;

TEST(CloudEventsAttributeName, IsLowerCaseLettersAndDigitsAsTheSpecSays) {
  for (const char* name : {"id", "partitionkey", "dataschema", "traceparent", "ext1", "1a"}) {
    EXPECT_TRUE(is_cloudevents_attribute_name(name)) << name;
  }
  for (const char* name :
       {"", "Attempt", "ID", "my-ext", "my_ext", "a.b", "bad:name", "bad\r\nname", "caf\xc3\xa9"}) {
    EXPECT_FALSE(is_cloudevents_attribute_name(name)) << name;
  }
}

TEST(CloudEventsAttributeValue, ControlCharactersAreToldApart) {
  EXPECT_FALSE(has_control_characters(""));
  EXPECT_FALSE(has_control_characters("https://example.com/a b~"));
  EXPECT_FALSE(has_control_characters("Euro \xe2\x82\xac")) << "UTF-8 is not a control character";
  for (const std::string& value : {"a\r\nb"s, "tab\there"s, "nul\0"s, "del\x7f"s, "\x1b[2J"s}) {
    EXPECT_TRUE(has_control_characters(value)) << value;
  }
}

TEST(CloudEventsAttributeMember, NamesTheEventMemberOfEachStringAttribute) {
  Event event;
  EXPECT_EQ(attribute_member(event, "id"), &event.id);
  EXPECT_EQ(attribute_member(event, "source"), &event.source);
  EXPECT_EQ(attribute_member(event, "type"), &event.type);
  EXPECT_EQ(attribute_member(event, "subject"), &event.subject);
  EXPECT_EQ(attribute_member(event, "datacontenttype"), &event.content_type);
  EXPECT_EQ(attribute_member(event, "traceparent"), &event.traceparent);
  EXPECT_EQ(attribute_member(event, "tracestate"), &event.tracestate);
  for (const char* other : {"specversion", "time", "data", "dataschema", "partitionkey", "ID"}) {
    EXPECT_EQ(attribute_member(event, other), nullptr) << other;
  }
}

}  // namespace
}  // namespace triggerd
