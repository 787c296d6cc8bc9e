#pragma once
// Shared by the Redis integration tests: the config of a triggerd bound to a test
// redis-server and function stub, and readings of its metrics and admin API.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "tests/support/http_client.hpp"

namespace triggerd::testing {

// A whole config: one redis connection `main` at 127.0.0.1:REDIS_PORT, one function `fn` at
// `function_url`, and `triggers` (YAML text of the triggers: section's entries, indented by 2).
inline std::string redis_config(std::uint16_t redis_port, const std::string& function_url,
                                const std::string& triggers) {
  return "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  shutdown_timeout: 2s\n"
         "log:\n  level: info\n"
         "connections:\n  main:\n    type: redis\n    address: 127.0.0.1:" +
         std::to_string(redis_port) + "\nfunctions:\n  fn:\n    url: " + function_url +
         "\n    timeout: 5s\n    max_concurrency: 200\n"
         "triggers:\n" +
         triggers;
}

// The value of the sample `name{trigger="TRIGGER"}` on /metrics, if there is one.
inline std::optional<double> trigger_sample(std::uint16_t admin_port, const std::string& name,
                                            const std::string& trigger) {
  const HttpResponse response = http_get(admin_port, "/metrics");
  if (response.status != 200) return std::nullopt;
  const std::string series = name + "{trigger=\"" + trigger + "\"} ";
  const auto at = response.body.find(series);
  if (at == std::string::npos || (at > 0 && response.body[at - 1] != '\n')) return std::nullopt;
  const auto value_at = at + series.size();
  return std::stod(response.body.substr(value_at, response.body.find('\n', value_at) - value_at));
}

// triggerd_source_errors_total of `trigger`, every kind summed; nullopt when /metrics does not
// answer or has no such series.
inline std::optional<double> source_errors(std::uint16_t admin_port, const std::string& trigger) {
  const HttpResponse response = http_get(admin_port, "/metrics");
  if (response.status != 200) return std::nullopt;
  const std::string name = "triggerd_source_errors_total{";
  const std::string label = "trigger=\"" + trigger + "\"";
  std::optional<double> total;
  std::string::size_type at = 0;
  while ((at = response.body.find(name, at)) != std::string::npos) {
    const auto end = response.body.find('\n', at);
    const std::string line = response.body.substr(at, end - at);
    at = end;
    if (line.find(label) == std::string::npos) continue;
    total = total.value_or(0) + std::stod(line.substr(line.rfind(' ') + 1));
  }
  return total;
}

// `config` with the server's shutdown_timeout set to `timeout` (e.g. "5s").
inline std::string with_shutdown_timeout(std::string config, const std::string& timeout) {
  const std::string key = "shutdown_timeout: ";
  const auto at = config.find(key);
  if (at != std::string::npos) {
    config.replace(at + key.size(), config.find('\n', at) - at - key.size(), timeout);
  }
  return config;
}

// GET /v1/triggers/NAME as JSON; null when it does not answer 200.
inline boost::json::value trigger_info(std::uint16_t admin_port, const std::string& trigger) {
  const HttpResponse response = http_get(admin_port, "/v1/triggers/" + trigger);
  if (response.status != 200) return nullptr;
  return boost::json::parse(response.body);
}

}  // namespace triggerd::testing
