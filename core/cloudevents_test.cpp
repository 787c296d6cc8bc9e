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
  for (const char* name : {"", "Attempt", "ID", "my-ext", "my_ext", "a.b", "bad:name",
                           "bad\r\nname", "caf\xc3\xa9"}) {
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

}  // namespace
}  // namespace triggerd
