#pragma once
// For the unit tests of a Redis source's parts: the context of a trigger `t` whose redis
// connection `main` is at 127.0.0.1:PORT, with its metrics at hand to read what was counted.
#include <cstdint>

#include "config/config.hpp"
#include "connectors/redis/redis_source_context.hpp"
#include "core/metrics.hpp"

namespace triggerd::redis {

struct SourceContextForTests {
  explicit SourceContextForTests(std::uint16_t port)
      : metrics({{.name = "t", .function = "fn", .source_type = "redis-stream"}}, "test"),
        telemetry(*metrics.find("t")),
        trigger{.name = "t", .function = "fn"},
        connection{.name = "main", .spec = config::RedisConnection{.address = {"127.0.0.1", port}}},
        context(trigger, connection, telemetry.state) {}

  Metrics metrics;
  TriggerTelemetry& telemetry;
  config::Trigger trigger;
  config::Connection connection;
  SourceContext context;
};

}  // namespace triggerd::redis
