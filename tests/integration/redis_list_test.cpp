// The redis-list source through the real binary, against a real redis-server and a function
// stub (SPEC sections 2, 3, 5 and 6).
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/function_stub/function_stub.hpp"
#include "tests/integration/redis_test_helpers.hpp"
#include "tests/support/free_port.hpp"
#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/temp_file.hpp"
#include "tests/support/triggerd_process.hpp"

namespace triggerd::testing {
namespace {

using namespace std::chrono_literals;

std::string list_trigger(const std::string& name, const std::string& delivery = "") {
  return "  " + name +
         ":\n    function: fn\n    source:\n      type: redis-list\n"
         "      connection: main\n      list: " +
         name + "\n" + (delivery.empty() ? "" : "    delivery:\n" + delivery);
}

void push_items(RedisTestClient& redis, const std::string& list, int first, int count) {
  std::vector<std::vector<std::string>> commands;
  for (int i = first; i < first + count; ++i) {
    commands.push_back({"LPUSH", list, "item-" + std::to_string(i)});
  }
  redis.pipeline(commands);
}

long long processing_items(RedisTestClient& redis, const std::string& list) {
  ReplyPtr keys = redis.command({"KEYS", list + ":processing:*"});
  long long total = 0;
  for (std::size_t i = 0; i < keys->elements; ++i) {
    total += redis.integer({"LLEN", keys->element[i]->str});
  }
  return total;
}

std::map<std::string, int> bodies(const FunctionStub& function) {
  std::map<std::string, int> seen;
  for (const auto& request : function.requests()) ++seen[request.body];
  return seen;
}

TEST(RedisListSource, DeliversEveryItemOnceInOrder) {
  RedisServer server;
  RedisTestClient redis(server.port());
  FunctionStub function;
  constexpr int kItems = 2000;
  push_items(redis, "work", 0, kItems);
  TempFile config(redis_config(server.port(), function.url("/fn"), list_trigger("work")));
  TriggerdProcess triggerd(config.path());
  ASSERT_TRUE(function.wait_for_requests(kItems, 30s)) << function.request_count();
  ASSERT_TRUE(wait_until([&] { return processing_items(redis, "work") == 0; }, 5s));
  std::this_thread::sleep_for(200ms);
  const auto seen = bodies(function);
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kItems));
  EXPECT_EQ(function.request_count(), static_cast<std::uint64_t>(kItems));
  const auto first = function.requests().front();
  EXPECT_EQ(first.body, "item-0");  // LPUSH by producers, taken from the right: FIFO
  EXPECT_EQ(first.header("ce-type"), "dev.triggerd.redis.list.item");
  EXPECT_EQ(first.header("ce-source"), "redis://main/work");
  EXPECT_FALSE(first.header("ce-id").empty());
  EXPECT_EQ(redis.integer({"LLEN", "work"}), 0);
  EXPECT_TRUE(wait_until(
      [&] { return trigger_sample(triggerd.admin_port(), "triggerd_queue_depth", "work") == 0.0; },
      5s));
}

// Free slots are filled several items per round trip; the items still reach a function that
// takes one request at a time in the list's order, each once.
TEST(RedisListSource, TakesItemsInBatchesInTheListsOrder) {
  RedisServer server;
  RedisTestClient redis(server.port());
  FunctionStub function;
  constexpr int kItems = 600;
  push_items(redis, "ordered", 0, kItems);
  std::string text = redis_config(server.port(), function.url("/fn"),
                                  list_trigger("ordered", "      max_inflight: 50\n"));
  text.replace(text.find("max_concurrency: 200"), 20, "max_concurrency: 1");
  TempFile config(text);
  TriggerdProcess triggerd(config.path());
  ASSERT_TRUE(function.wait_for_requests(kItems, 30s)) << function.request_count();
  const auto requests = function.requests();
  ASSERT_EQ(requests.size(), static_cast<std::size_t>(kItems));
  for (int i = 0; i < kItems; ++i) {
    ASSERT_EQ(requests[static_cast<std::size_t>(i)].body, "item-" + std::to_string(i));
  }
  EXPECT_TRUE(wait_until([&] { return processing_items(redis, "ordered") == 0; }, 5s));
}

TEST(RedisListSource, ReportsTheWholeBacklogWhileTheFunctionIsDown) {
  RedisServer server;
  RedisTestClient redis(server.port());
  TempFile config(redis_config(
      server.port(), "http://127.0.0.1:" + std::to_string(free_port()) + "/fn",
      list_trigger("backlog",
                   "      retries: 100\n      backoff: {policy: constant, delay: 1s}\n")));
  TriggerdProcess triggerd(config.path());
  ASSERT_TRUE(
      wait_until([&] { return http_get(triggerd.admin_port(), "/readyz").status == 200; }, 5s));
  push_items(redis, "backlog", 0, 500);
  EXPECT_TRUE(wait_until(
      [&] {
        const auto info = trigger_info(triggerd.admin_port(), "backlog");
        return info.is_object() && info.as_object().at("backlog").as_int64() == 500;
      },
      5s));
  const auto depth = trigger_sample(triggerd.admin_port(), "triggerd_queue_depth", "backlog");
  const auto inflight =
      trigger_sample(triggerd.admin_port(), "triggerd_inflight_events", "backlog");
  ASSERT_TRUE(depth && inflight);
  EXPECT_EQ(*depth + *inflight, 500.0);
  EXPECT_EQ(processing_items(redis, "backlog"), 100);  // max_inflight
}

TEST(RedisListSource, ReturnsItsProcessingListAfterAKill) {
  RedisServer server;
  RedisTestClient redis(server.port());
  FunctionStub function;
  function.always(StubStep::respond(200).with_delay(300ms));
  constexpr int kItems = 100;
  constexpr int kMaxInflight = 10;
  push_items(redis, "crash", 0, kItems);
  TempFile config(redis_config(server.port(), function.url("/fn"),
                               list_trigger("crash", "      max_inflight: 10\n")));
  auto triggerd = std::make_unique<TriggerdProcess>(config.path());
  ASSERT_TRUE(function.wait_for_requests(25, 10s));
  triggerd->process().send_signal(SIGKILL);
  triggerd->process().wait_for_exit(5s);
  triggerd.reset();
  EXPECT_GT(processing_items(redis, "crash"), 0);  // what was in flight at the kill
  function.always(200);
  triggerd = std::make_unique<TriggerdProcess>(config.path());
  ASSERT_TRUE(wait_until([&] { return bodies(function).size() == kItems; }, 20s))
      << bodies(function).size();
  ASSERT_TRUE(wait_until([&] { return processing_items(redis, "crash") == 0; }, 5s));
  EXPECT_EQ(redis.integer({"LLEN", "crash"}), 0);
  EXPECT_LE(function.request_count(), static_cast<std::uint64_t>(kItems + kMaxInflight));
}

TEST(RedisListSource, ReconnectsAfterRedisRestartsAndLosesNothing) {
  RedisServer server(RedisServerOptions{.appendonly = true});
  FunctionStub function;
  TempFile config(redis_config(server.port(), function.url("/fn"), list_trigger("durable")));
  TriggerdProcess triggerd(config.path());
  auto up = [&] { return trigger_sample(triggerd.admin_port(), "triggerd_source_up", "durable"); };
  ASSERT_TRUE(wait_until([&] { return up() == 1.0; }, 5s));
  {
    RedisTestClient redis(server.port());
    push_items(redis, "durable", 0, 100);
  }
  ASSERT_TRUE(function.wait_for_requests(100, 10s));
  server.stop();
  EXPECT_TRUE(wait_until([&] { return up() == 0.0; }, 5s));
  server.start();
  EXPECT_TRUE(wait_until([&] { return up() == 1.0; }, 10s));
  RedisTestClient redis(server.port());
  push_items(redis, "durable", 100, 100);
  ASSERT_TRUE(wait_until([&] { return bodies(function).size() == 200; }, 15s))
      << bodies(function).size();
  ASSERT_TRUE(wait_until([&] { return processing_items(redis, "durable") == 0; }, 5s));
  EXPECT_EQ(redis.integer({"LLEN", "durable"}), 0);
}

}  // namespace
}  // namespace triggerd::testing
