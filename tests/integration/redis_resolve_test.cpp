// Redis connections by host name, through the real binary: the name is looked up off the
// event loop, and again on every reconnect. A test resolver (tests/support/slow_resolver.cpp,
// loaded with LD_PRELOAD) answers names ending in ".slow.test" as slowly as a test asks.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/integration/redis_test_helpers.hpp"

namespace triggerd::testing {
namespace {

using namespace std::chrono_literals;

// redis_config's connection `main` plus `named` at HOST:PORT.
std::string with_named_connection(std::string config, const std::string& host_port) {
  const std::string functions = "functions:\n";
  config.insert(config.find(functions),
                "  named:\n    type: redis\n    address: " + host_port + "\n");
  return config;
}

ProcessOptions slow_resolver(std::chrono::milliseconds delay,
                             const std::vector<std::pair<std::string, std::string>>& more = {}) {
  ProcessOptions options;
  options.env = {{"LD_PRELOAD", SLOW_RESOLVER_LIBRARY},
                 {"TRIGGERD_TEST_RESOLVE_DELAY_MS", std::to_string(delay.count())}};
  options.env.insert(options.env.end(), more.begin(), more.end());
  return options;
}

std::size_t lines_in(const std::string& path) {
  std::ifstream in(path);
  std::size_t lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  return lines;
}

using RedisNameResolution = RedisTest;

// A Redis whose name takes 3 s to resolve, at every (re)connect of each of its trigger's
// connections: the other trigger delivers all the while, and /livez answers at once.
TEST_F(RedisNameResolution, ASlowLookupStallsNeitherOtherTriggersNorTheAdminApi) {
  TriggerdProcess triggerd(
      config_file(with_named_connection(
          redis_config(server.port(), function.url("/fn"),
                       list_trigger("fast") + redis_trigger("redis-list", "list", "slow", {}, {},
                                                            "named")),
          "redis.slow.test:" + std::to_string(server.port()))),
      slow_resolver(3000ms));
  push_items(redis, "fast", 0, 50);
  redis.command({"LPUSH", "slow", "late"});
  // While the lookups are under way.
  const auto until = std::chrono::steady_clock::now() + 2500ms;
  std::chrono::milliseconds slowest{0};
  int answers = 0;
  while (std::chrono::steady_clock::now() < until) {
    const auto asked = std::chrono::steady_clock::now();
    const HttpResponse livez = http_get(triggerd.admin_port(), "/livez");
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - asked);
    EXPECT_EQ(livez.status, 200) << livez.error;
    slowest = std::max(slowest, took);
    ++answers;
    std::this_thread::sleep_for(50ms);
  }
  // A stalled event loop would hold /livez for the 3 s of a lookup.
  EXPECT_LT(slowest, 1000ms) << answers << " answers";
  EXPECT_EQ(redis.integer({"LLEN", "fast"}), 0);  // all taken before the lookups ended
  EXPECT_TRUE(function.wait_for_requests(50, 1s)) << function.request_count() << "\n"
                                                  << triggerd.process().err();
  // Once resolved, the slow trigger works too.
  ASSERT_TRUE(wait_until(
      [&] { return trigger_sample(triggerd.admin_port(), "triggerd_source_up", "slow") == 1.0; },
      10s))
      << triggerd.process().err();
  EXPECT_TRUE(function.wait_for_requests(51, 5s));
}

// The name moves to another address (a failover behind DNS); the reconnect after the old
// server goes looks it up again and finds the new one.
// (The fixture's server is the old one.)
TEST_F(RedisNameResolution, AReconnectLooksTheNameUpAgain) {
  RedisServer new_server(RedisServerOptions{.bind = "127.0.0.2", .port = server.port()});
  TempFile address_file("127.0.0.1\n");
  TempFile lookups("");
  TriggerdProcess triggerd(
      config_file(with_named_connection(
          redis_config(server.port(), function.url("/fn"),
                       redis_trigger("redis-stream", "stream", "moving",
                                     {"start: \"0\"", "consumer: c1"}, {}, "named")),
          "redis.moving.slow.test:" + std::to_string(server.port()))),
      slow_resolver(10ms, {{"TRIGGERD_TEST_RESOLVE_ADDRESS_FILE", address_file.path()},
                           {"TRIGGERD_TEST_RESOLVE_LOG", lookups.path()}}));
  redis.command({"XADD", "moving", "*", "data", "on-the-old-server"});
  ASSERT_TRUE(function.wait_for_requests(1, 10s)) << triggerd.process().err();
  const std::size_t lookups_before = lines_in(lookups.path());
  EXPECT_GE(lookups_before, 1u);
  std::ofstream(address_file.path(), std::ios::trunc) << "127.0.0.2\n";
  RedisTestClient(new_server.port(), new_server.host())
      .command({"XADD", "moving", "*", "data", "on-the-new-server"});
  server.stop();
  ASSERT_TRUE(function.wait_for_requests(2, 15s)) << triggerd.process().err();
  EXPECT_EQ(function.requests()[1].body, "on-the-new-server");
  EXPECT_GT(lines_in(lookups.path()), lookups_before);
}

}  // namespace
}  // namespace triggerd::testing
