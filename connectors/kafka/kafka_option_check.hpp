#pragma once
// The real config::OptionCheck for `kafka` connections: each option is set on a scratch
// librdkafka configuration, exactly as the clients will set it, and librdkafka's refusal
// (an unknown property, a value it cannot parse, one out of range) becomes the message.
// Values never appear in it: librdkafka quotes some of them, and any may be a secret.
#include <optional>
#include <string>
#include <string_view>

#include "config/option_check.hpp"

namespace triggerd::kafka {

class KafkaOptionCheck final : public config::OptionCheck {
 public:
  std::optional<std::string> check_kafka_option(std::string_view key,
                                                std::string_view value) const override;
};

// librdkafka's `message` about `value`, with the value taken out wherever it is echoed.
std::string redact_option_value(std::string message, std::string_view value);

}  // namespace triggerd::kafka
