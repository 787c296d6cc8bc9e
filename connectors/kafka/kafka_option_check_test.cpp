#include "connectors/kafka/kafka_option_check.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "config/loader.hpp"
#include "connectors/registry.hpp"

namespace triggerd::kafka {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(KafkaOptionCheck, TakesWhatLibrdkafkaTakes) {
  EXPECT_EQ(check_option("security.protocol", "SASL_SSL"), std::nullopt);
  EXPECT_EQ(check_option("session.timeout.ms", "6000"), std::nullopt);
  EXPECT_EQ(check_option("sasl.password", "hunter2"), std::nullopt);
}

TEST(KafkaOptionCheck, NamesAnUnknownProperty) {
  const auto refused = check_option("sesion.timeout.ms", "6000");
  ASSERT_TRUE(refused.has_value());
  EXPECT_THAT(*refused, HasSubstr("No such configuration property"));
  EXPECT_THAT(*refused, HasSubstr("sesion.timeout.ms"));
}

TEST(KafkaOptionCheck, RefusesAValueWithoutShowingIt) {
  const auto refused = check_option("security.protocol", "sasl_sslx-s3cret");
  ASSERT_TRUE(refused.has_value());
  EXPECT_THAT(*refused, HasSubstr("security.protocol"));
  EXPECT_THAT(*refused, Not(HasSubstr("sasl_sslx-s3cret")));
  EXPECT_THAT(*refused, HasSubstr("[redacted]"));
}

TEST(KafkaOptionCheck, KeepsTheAllowedRangeOfANumber) {
  const auto refused = check_option("queued.min.messages", "0");
  ASSERT_TRUE(refused.has_value());
  EXPECT_THAT(*refused, HasSubstr("1..10000000"));
  EXPECT_EQ(refused->back(), '0');  // no trailing newline
}

TEST(RedactOptionValue, TakesTheValueOutWhereverLibrdkafkaEchoesIt) {
  EXPECT_EQ(redact_option_value("Invalid value \"abc\" for configuration property \"x\"", "abc"),
            "Invalid value \"[redacted]\" for configuration property \"x\"");
  EXPECT_EQ(redact_option_value("Invalid value for configuration property \"x\": abc", "abc"),
            "Invalid value for configuration property \"x\": [redacted]");
  EXPECT_EQ(redact_option_value("bad: token-123456 here\n", "token-123456"),
            "bad: [redacted] here");
  // Short values only where they are echoed: "ssl" inside a property name stays.
  EXPECT_EQ(redact_option_value("Invalid value \"s\" for configuration property "
                                "\"security.protocol\"",
                                "s"),
            "Invalid value \"[redacted]\" for configuration property \"security.protocol\"");
}

// What follows the `connections` section in the loader tests: one trigger on connection main.
constexpr std::string_view kOneTriggerOnMain = R"(functions:
  fn:
    url: http://127.0.0.1:9/fn
triggers:
  orders:
    function: fn
    source: {type: kafka, connection: main, topic: orders}
)";

TEST(KafkaOptionCheck, TheLoaderReportsARefusalAtTheOptionsValue) {
  const config::LoadResult result = config::load_string(R"(connections:
  main:
    type: kafka
    brokers: 127.0.0.1:9092
    options:
      sasl.password: not-shown-anywhere
      security.protocol: sasl_sslx
)" + std::string(kOneTriggerOnMain),
                                                        "t.yaml", &connector_check());
  EXPECT_FALSE(result.ok());
  std::vector<std::string> errors;
  for (const auto& diagnostic : result.diagnostics) {
    if (diagnostic.severity == config::Severity::error) errors.push_back(diagnostic.to_string());
    EXPECT_THAT(diagnostic.to_string(), Not(HasSubstr("not-shown-anywhere")));
  }
  ASSERT_EQ(errors.size(), 1u);
  const std::string& line = errors[0];
  EXPECT_THAT(line, HasSubstr("t.yaml:7:26: error: connections.main.options.security.protocol: "));
  EXPECT_THAT(line, Not(HasSubstr("sasl_sslx")));
  EXPECT_THAT(line, Not(HasSubstr("not-shown-anywhere")));
}

TEST(KafkaOptionCheck, WithoutTheCheckTheLoaderOnlyReadsOptions) {
  const config::LoadResult result = config::load_string(R"(connections:
  main:
    type: kafka
    brokers: 127.0.0.1:9092
    options: {security.protocol: sasl_sslx}
)" + std::string(kOneTriggerOnMain),
                                                        "t.yaml");
  EXPECT_TRUE(result.ok());
}

}  // namespace
}  // namespace triggerd::kafka
