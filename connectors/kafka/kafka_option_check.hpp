#pragma once
// The check of `kafka` connections' options (part of the registry's config::ConnectorCheck):
// each option is set on a scratch
// librdkafka configuration, exactly as the clients will set it, and librdkafka's refusal
// (an unknown property, a value it cannot parse, one out of range) becomes the message.
// Values never appear in it: librdkafka quotes some of them, and any may be a secret.
#include <optional>
#include <string>
#include <string_view>

namespace triggerd::kafka {

// Why librdkafka refuses `key` set to `value`, or nothing when it takes it.
std::optional<std::string> check_option(std::string_view key, std::string_view value);

// librdkafka's `message` about `value`, with the value taken out wherever it is echoed.
std::string redact_option_value(std::string message, std::string_view value);

}  // namespace triggerd::kafka
