// The redis-list source through the real binary, against a real redis-server and a function
// stub (SPEC sections 2, 3, 5 and 6).
#include <gtest/gtest.h>
#include <unistd.h>

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

std::string list_trigger(const std::string& name, const std::string& delivery = "",
                         const std::string& consumer = "") {
  return "  " + name +
         ":\n    function: fn\n    source:\n      type: redis-list\n"
         "      connection: main\n      list: " +
         name + "\n" + (consumer.empty() ? "" : "      consumer: " + consumer + "\n") +
         (delivery.empty() ? "" : "    delivery:\n" + delivery);
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

std::string this_host() {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  return name;
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

TEST(RedisListSource, ARedisRestartUnderLoadIsCountedAndLosesNothing) {
  RedisServer server(RedisServerOptions{.appendonly = true});
  FunctionStub function;
  function.always(StubStep::respond(200).with_delay(50ms));
  constexpr int kItems = 400;
  {
    RedisTestClient redis(server.port());
    push_items(redis, "loaded", 0, kItems);
  }
  TempFile config(redis_config(server.port(), function.url("/fn"),
                               list_trigger("loaded", "      max_inflight: 10\n")));
  TriggerdProcess triggerd(config.path());
  ASSERT_TRUE(function.wait_for_requests(100, 10s));
  EXPECT_EQ(source_errors(triggerd.admin_port(), "loaded"), 0.0);
  server.stop();
  std::this_thread::sleep_for(500ms);
  server.start();
  ASSERT_TRUE(wait_until([&] { return bodies(function).size() == kItems; }, 20s))
      << bodies(function).size();
  RedisTestClient redis(server.port());
  ASSERT_TRUE(wait_until([&] { return processing_items(redis, "loaded") == 0; }, 5s));
  EXPECT_EQ(redis.integer({"LLEN", "loaded"}), 0);
  const auto errors = source_errors(triggerd.admin_port(), "loaded");
  ASSERT_TRUE(errors.has_value());
  EXPECT_GT(*errors, 0.0);
  // At most what was in flight at the restart comes again.
  EXPECT_LE(function.request_count(), static_cast<std::uint64_t>(kItems + 10));
}

// --- Consumer names ----------------------------------------------------------------------------

// Two processes on one host, both with the default consumer name (the host name). The second
// is refused while the first runs, instead of returning the first one's items to the queue,
// and takes over once the first stops.
TEST(RedisListConsumers, ASecondLiveProcessWithTheSameConsumerNameIsRefused) {
  RedisServer server;
  RedisTestClient redis(server.port());
  FunctionStub function;
  function.always(StubStep::respond(200).with_delay(200ms));
  constexpr int kItems = 60;
  push_items(redis, "shared", 0, kItems);
  TempFile config(redis_config(server.port(), function.url("/fn"),
                               list_trigger("shared", "      max_inflight: 2\n")));
  auto first = std::make_unique<TriggerdProcess>(config.path());
  ASSERT_TRUE(function.wait_for_requests(2, 10s));
  TriggerdProcess second(config.path());
  ASSERT_TRUE(wait_until(
      [&] {
        return second.process().err().find("in use by another live process") != std::string::npos;
      },
      5s))
      << second.process().err();
  const std::string log = second.process().err();
  EXPECT_NE(log.find("consumer name " + this_host() + " of list shared"), std::string::npos) << log;
  EXPECT_EQ(trigger_sample(second.admin_port(), "triggerd_source_up", "shared"), 0.0);
  EXPECT_EQ(http_get(second.admin_port(), "/readyz").status, 503);
  EXPECT_LT(function.request_count(), static_cast<std::uint64_t>(kItems));  // still at work
  // The first one stops (it gives the name up): the second takes over and finishes the list.
  first->process().send_signal(SIGTERM);
  EXPECT_EQ(first->process().wait_for_exit(10s), 0) << first->process().err();
  first.reset();
  ASSERT_TRUE(wait_until([&] { return bodies(function).size() == kItems; }, 20s))
      << bodies(function).size() << "\n"
      << second.process().err();
  ASSERT_TRUE(wait_until([&] { return processing_items(redis, "shared") == 0; }, 5s));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(function.request_count(), static_cast<std::uint64_t>(kItems));  // nothing twice
  EXPECT_EQ(trigger_sample(second.admin_port(), "triggerd_source_up", "shared"), 1.0);
}

TEST(RedisListConsumers, ProcessesWithTheirOwnConsumerNamesShareTheList) {
  RedisServer server;
  RedisTestClient redis(server.port());
  FunctionStub function;
  function.always(StubStep::respond(200).with_delay(50ms));
  constexpr int kItems = 200;
  TempFile config_a(redis_config(server.port(), function.url("/fn"),
                                 list_trigger("split", "      max_inflight: 5\n", "worker-a")));
  TempFile config_b(redis_config(server.port(), function.url("/fn"),
                                 list_trigger("split", "      max_inflight: 5\n", "worker-b")));
  TriggerdProcess a(config_a.path());
  TriggerdProcess b(config_b.path());
  for (auto* process : {&a, &b}) {
    ASSERT_TRUE(wait_until(
        [&] { return trigger_sample(process->admin_port(), "triggerd_source_up", "split") == 1.0; },
        5s));
  }
  push_items(redis, "split", 0, kItems);
  ASSERT_TRUE(wait_until([&] { return bodies(function).size() == kItems; }, 20s))
      << bodies(function).size();
  ASSERT_TRUE(wait_until([&] { return processing_items(redis, "split") == 0; }, 5s));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(function.request_count(), static_cast<std::uint64_t>(kItems));
  const auto by_a = trigger_sample(a.admin_port(), "triggerd_events_delivered_total", "split");
  const auto by_b = trigger_sample(b.admin_port(), "triggerd_events_delivered_total", "split");
  ASSERT_TRUE(by_a && by_b);
  EXPECT_GT(*by_a, 0.0);
  EXPECT_GT(*by_b, 0.0);
  EXPECT_EQ(*by_a + *by_b, static_cast<double>(kItems));
  EXPECT_EQ(redis.integer({"EXISTS", "split:processing:worker-a"}) +
                redis.integer({"EXISTS", "split:consumer:worker-a"}),
            1);  // its heartbeat (its processing list is empty, so Redis has no key for it)
}

TEST(RedisListConsumers, AConsumerKilledRightAfterItsFirstTakeHasItsItemsReturned) {
  // Killed within moments of its start, before any renewal of its heartbeat: the live consumer
  // must still know of it to return its items, so a consumer is listed before it takes any.
  RedisServer server;
  RedisTestClient redis(server.port());
  FunctionStub function;
  function.always(StubStep::respond(200).with_delay(30s));  // the first one never finishes
  constexpr int kItems = 5;
  push_items(redis, "early", 0, kItems);
  TempFile config_a(redis_config(server.port(), function.url("/fn"),
                                 list_trigger("early", "      max_inflight: 5\n", "dies-early")));
  auto a = std::make_unique<TriggerdProcess>(config_a.path());
  ASSERT_TRUE(wait_until([&] { return processing_items(redis, "early") == kItems; }, 5s));
  a->process().send_signal(SIGKILL);
  a->process().wait_for_exit(5s);
  a.reset();

  FunctionStub survivor_function;
  TempFile config_b(redis_config(server.port(), survivor_function.url("/fn"),
                                 list_trigger("early", "      max_inflight: 5\n", "lives-on")));
  TriggerdProcess b(config_b.path());
  // The dead consumer's heartbeat expires (10 s), then the survivor returns its items.
  ASSERT_TRUE(wait_until([&] { return bodies(survivor_function).size() == kItems; }, 30s))
      << "items of the killed consumer left in its processing list: "
      << processing_items(redis, "early") << "\n" << b.process().err();
  EXPECT_EQ(survivor_function.request_count(), static_cast<std::uint64_t>(kItems));
}

// --- The drain ----------------------------------------------------------------------------------

TEST(RedisListDrain, ExitsWithinShutdownTimeoutWhenRedisIsGone) {
  RedisServer server;
  FunctionStub function;
  function.always(StubStep::respond(200).with_delay(1s));
  {
    RedisTestClient redis(server.port());
    push_items(redis, "orphaned", 0, 30);
  }
  TempFile config(redis_config(server.port(), function.url("/fn"),
                               list_trigger("orphaned", "      max_inflight: 10\n")));
  TriggerdProcess triggerd(config.path());
  ASSERT_TRUE(function.wait_for_requests(10, 10s));
  server.stop();
  const auto signalled = std::chrono::steady_clock::now();
  triggerd.process().send_signal(SIGTERM);
  const auto exit_code = triggerd.process().wait_for_exit(15s);
  const auto took = std::chrono::steady_clock::now() - signalled;
  EXPECT_EQ(exit_code, 0) << triggerd.process().err();
  // shutdown_timeout is 2 s.
  EXPECT_LT(took, 3s) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                      << " ms\n"
                      << triggerd.process().err();
  EXPECT_NE(triggerd.process().err().find("by the shutdown deadline"), std::string::npos)
      << triggerd.process().err();
}

TEST(RedisListDrain, RemovesEverythingThatFinishedBeforeTheExit) {
  RedisServer server;
  RedisTestClient redis(server.port());
  FunctionStub function;
  function.always(StubStep::respond(200).with_delay(1s));
  constexpr int kItems = 30;
  push_items(redis, "handover", 0, kItems);
  TempFile config(
      with_shutdown_timeout(redis_config(server.port(), function.url("/fn"),
                                         list_trigger("handover", "      max_inflight: 5\n", "c1")),
                            "5s"));
  auto triggerd = std::make_unique<TriggerdProcess>(config.path());
  ASSERT_TRUE(function.wait_for_requests(5, 10s));
  triggerd->process().send_signal(SIGTERM);
  EXPECT_EQ(triggerd->process().wait_for_exit(10s), 0) << triggerd->process().err();
  triggerd.reset();
  // Everything taken was finished and removed; the consumer name was given up.
  EXPECT_EQ(processing_items(redis, "handover"), 0);
  EXPECT_EQ(redis.integer({"EXISTS", "handover:consumer:c1"}), 0);
  const std::size_t first_run = function.requests().size();
  function.always(200);
  triggerd = std::make_unique<TriggerdProcess>(config.path());
  ASSERT_TRUE(wait_until([&] { return bodies(function).size() == kItems; }, 20s))
      << bodies(function).size();
  std::this_thread::sleep_for(200ms);
  EXPECT_GE(first_run, 5u);
  EXPECT_EQ(function.request_count(), static_cast<std::uint64_t>(kItems));
}

}  // namespace
}  // namespace triggerd::testing
