#pragma once
// Who a Redis source is, for each of its parts that connects, logs or counts: its trigger (named
// in every log line; its state counted and marked up or down), the Redis connection it uses,
// and the logger of the Redis connectors.
#include <memory>
#include <string>

#include "config/config.hpp"

namespace spdlog {
class logger;
}

namespace triggerd {

class TriggerState;

namespace redis {

struct SourceContext {
  // `connection_config` is a redis connection. It, `trigger_config` and `trigger_state` must
  // outlive the context.
  SourceContext(const config::Trigger& trigger_config, const config::Connection& connection_config,
                TriggerState& trigger_state);

  const std::string trigger;
  const std::string connection;  // its name
  const config::RedisConnection& spec;
  const std::string address;  // host:port
  TriggerState& state;
  const std::shared_ptr<spdlog::logger> log;
};

}  // namespace redis
}  // namespace triggerd
