#pragma once
// Shared by the Redis integration tests: the config of a triggerd bound to a test redis-server
// and function stub, the queues the tests fill and inspect, readings of triggerd's metrics and
// admin API, and the fixture most tests start from.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <csignal>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/function_stub/function_stub.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/metrics_text.hpp"
#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/temp_file.hpp"
#include "tests/support/triggerd_process.hpp"

namespace triggerd::testing {

// --- Config -------------------------------------------------------------------------------------

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

// `config` with the server's shutdown_timeout set to `timeout` (e.g. "5s").
inline std::string with_shutdown_timeout(std::string config, const std::string& timeout) {
  const std::string key = "shutdown_timeout: ";
  const auto at = config.find(key);
  if (at != std::string::npos) {
    config.replace(at + key.size(), config.find('\n', at) - at - key.size(), timeout);
  }
  return config;
}

// YAML lines of one section, each "key: value" (flow style for anything nested).
using Lines = std::vector<std::string>;

// A trigger `name` (an entry of redis_config's `triggers`) with a source of `type` that reads
// the list or stream (`key`) of the same name on `connection` and calls `fn`; `source` and
// `delivery` add lines to those sections.
inline std::string redis_trigger(const std::string& type, const std::string& key,
                                 const std::string& name, const Lines& source,
                                 const Lines& delivery, const std::string& connection = "main") {
  std::string text = "  " + name + ":\n    function: fn\n    source:\n      type: " + type +
                     "\n      connection: " + connection + "\n      " + key + ": " + name + "\n";
  for (const std::string& line : source) text += "      " + line + "\n";
  if (!delivery.empty()) text += "    delivery:\n";
  for (const std::string& line : delivery) text += "      " + line + "\n";
  return text;
}

inline std::string list_trigger(const std::string& name, const Lines& source = {},
                                const Lines& delivery = {}) {
  return redis_trigger("redis-list", "list", name, source, delivery);
}

// From the stream's first entry (start "0"), so that entries added before the start count.
inline std::string stream_trigger(const std::string& name, const Lines& source = {},
                                  const Lines& delivery = {}) {
  Lines lines{"start: \"0\""};
  lines.insert(lines.end(), source.begin(), source.end());
  return redis_trigger("redis-stream", "stream", name, lines, delivery);
}

// --- The queues ---------------------------------------------------------------------------------

// LPUSHes "item-FIRST" ... in one round trip (taken from the right: FIFO).
inline void push_items(RedisTestClient& redis, const std::string& list, int first, int count) {
  std::vector<std::vector<std::string>> commands;
  for (int i = first; i < first + count; ++i) {
    commands.push_back({"LPUSH", list, "item-" + std::to_string(i)});
  }
  redis.pipeline(commands);
}

// XADDs entries with data "entry-FIRST" ... in one round trip.
inline void add_entries(RedisTestClient& redis, const std::string& stream, int first, int count) {
  std::vector<std::vector<std::string>> commands;
  for (int i = first; i < first + count; ++i) {
    commands.push_back({"XADD", stream, "*", "data", "entry-" + std::to_string(i)});
  }
  redis.pipeline(commands);
}

// Items in the processing lists of every consumer of `list`: taken, not yet removed.
inline long long processing_items(RedisTestClient& redis, const std::string& list) {
  ReplyPtr keys = redis.command({"KEYS", list + ":processing:*"});
  long long total = 0;
  for (std::size_t i = 0; i < keys->elements; ++i) {
    total += redis.integer({"LLEN", keys->element[i]->str});
  }
  return total;
}

// Entries pending in the group `triggerd` of `stream` (read, not yet XACKed); -1 without one.
inline long long pending(RedisTestClient& redis, const std::string& stream) {
  ReplyPtr reply = redis.command({"XPENDING", stream, "triggerd"});
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) return -1;
  return reply->element[0]->integer;
}

// The lag of the group `triggerd` of `stream`: entries no consumer has read yet; -1 when
// Redis cannot tell (or there is no such group).
inline long long group_lag(RedisTestClient& redis, const std::string& stream) {
  ReplyPtr groups = redis.command({"XINFO", "GROUPS", stream});
  if (groups->type != REDIS_REPLY_ARRAY) return -1;
  for (std::size_t g = 0; g < groups->elements; ++g) {
    const redisReply& group = *groups->element[g];
    bool ours = false;
    long long lag = -1;
    for (std::size_t i = 0; i + 1 < group.elements; i += 2) {  // name, value, ...
      const std::string field = group.element[i]->str;
      const redisReply& value = *group.element[i + 1];
      if (field == "name") ours = value.type == REDIS_REPLY_STRING && value.str == std::string("triggerd");
      if (field == "lag" && value.type == REDIS_REPLY_INTEGER) lag = value.integer;
    }
    if (ours) return lag;
  }
  return -1;
}

// --- What reached the function and triggerd's own view --------------------------------------------

// How many different bodies the function got: each item once, however often it came.
inline std::size_t distinct_bodies(const FunctionStub& function) {
  std::map<std::string, int> seen;
  for (const auto& request : function.requests()) ++seen[request.body];
  return seen.size();
}

// The value of `name{trigger="TRIGGER"}` in one /metrics body.
inline std::optional<double> sample_in(const std::string& metrics, const std::string& name,
                                       const std::string& trigger) {
  return sample(metrics, name + "{trigger=\"" + trigger + "\"}");
}

// The value of the sample `name{trigger="TRIGGER"}` on /metrics, if there is one.
inline std::optional<double> trigger_sample(std::uint16_t admin_port, const std::string& name,
                                            const std::string& trigger) {
  const HttpResponse response = http_get(admin_port, "/metrics");
  if (response.status != 200) return std::nullopt;
  return sample_in(response.body, name, trigger);
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

// GET /v1/triggers/NAME as JSON; null when it does not answer 200.
inline boost::json::value trigger_info(std::uint16_t admin_port, const std::string& trigger) {
  const HttpResponse response = http_get(admin_port, "/v1/triggers/" + trigger);
  if (response.status != 200) return nullptr;
  return boost::json::parse(response.body);
}

// Whether the admin API reports a backlog of `backlog` for `trigger` (waits up to 5 s).
inline bool reports_backlog(std::uint16_t admin_port, const std::string& trigger,
                            std::int64_t backlog) {
  return wait_until(
      [&] {
        const auto info = trigger_info(admin_port, trigger);
        return info.is_object() && info.as_object().at("backlog").as_int64() == backlog;
      },
      std::chrono::seconds(5));
}

// SIGKILL, and the process is gone.
inline void kill(std::unique_ptr<TriggerdProcess>& triggerd) {
  triggerd->process().send_signal(SIGKILL);
  triggerd->process().wait_for_exit(std::chrono::seconds(5));
  triggerd.reset();
}

// --- The fixture ----------------------------------------------------------------------------------

// What most Redis tests start from: a redis-server, a client for the test's own commands, a
// function stub, and the configs triggerd runs on. (The stub is declared before any triggerd
// of a test body, so that triggerd never outlives it mid-request.)
class RedisTest : public ::testing::Test {
 protected:
  explicit RedisTest(const RedisServerOptions& options = {})
      : server(options), redis(server.port()) {}

  // The path of a config file (kept for the test's life) with `triggers`, pointing at the
  // server and the function.
  const std::string& config_for(const std::string& triggers) {
    return config_file(redis_config(server.port(), function.url("/fn"), triggers));
  }
  // The path of a config file with `text`, kept for the test's life.
  const std::string& config_file(const std::string& text) {
    configs_.push_back(std::make_unique<TempFile>(text));
    return configs_.back()->path();
  }

  RedisServer server;
  RedisTestClient redis;
  FunctionStub function;

 private:
  std::vector<std::unique_ptr<TempFile>> configs_;
};

// A server that keeps its data across a restart (append-only file).
class DurableRedisTest : public RedisTest {
 protected:
  DurableRedisTest() : RedisTest({.appendonly = true}) {}
};

}  // namespace triggerd::testing
