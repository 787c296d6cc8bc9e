#pragma once
// What only a connector can judge in a config file: a client library's options, a cron
// schedule, a time zone. The loader asks while it reads a file, so that `validate` (and a
// reload) refuse what the connector would refuse at run time, and config/ stays free of
// connectors: the check is handed in (connectors/registry.hpp makes the real one).
#include <optional>
#include <string>
#include <string_view>

namespace triggerd::config {

class ConnectorCheck {
 public:
  virtual ~ConnectorCheck() = default;

  // Why librdkafka refuses `key` set to `value`, or nothing when it takes it. The text never
  // contains `value` (option values may be secrets).
  virtual std::optional<std::string> check_kafka_option(std::string_view key,
                                                        std::string_view value) const = 0;
  // Why `schedule` is not a cron schedule the cron source can run, or nothing.
  virtual std::optional<std::string> check_cron_schedule(std::string_view schedule) const = 0;
  // Why `zone` is not a time zone the cron source can load, or nothing.
  virtual std::optional<std::string> check_time_zone(std::string_view zone) const = 0;
};

}  // namespace triggerd::config
