#pragma once
// Checks of connection options that only a client library can judge. The loader asks while it
// reads a file, so that `validate` (and a reload) refuse what the library would refuse at run
// time; config/ stays free of connectors: the check is handed in (connectors/registry.hpp makes
// the real one).
#include <optional>
#include <string>
#include <string_view>

namespace triggerd::config {

class OptionCheck {
 public:
  virtual ~OptionCheck() = default;

  // Why librdkafka refuses `key` set to `value`, or nothing when it takes it. The text never
  // contains `value` (option values may be secrets).
  virtual std::optional<std::string> check_kafka_option(std::string_view key,
                                                        std::string_view value) const = 0;
};

}  // namespace triggerd::config
