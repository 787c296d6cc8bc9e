#include "connectors/redis/redis_source_context.hpp"

#include "core/logging.hpp"

namespace triggerd::redis {

SourceContext::SourceContext(const config::Trigger& trigger_config,
                             const config::Connection& connection_config,
                             TriggerState& trigger_state)
    : trigger(trigger_config.name),
      connection(connection_config.name),
      spec(std::get<config::RedisConnection>(connection_config.spec)),
      address(spec.address.to_string()),
      state(trigger_state),
      log(logging::get("redis")) {}

}  // namespace triggerd::redis
