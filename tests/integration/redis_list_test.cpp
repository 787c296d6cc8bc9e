// The redis-list source through the real binary, against a real redis-server and a function
// stub (SPEC sections 2, 3, 5 and 6). What it shares with the redis-stream source (crashes,
// restarts, the drain) is in redis_recovery_test.cpp.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <memory>
#include <string>
#include <thread>

#include "tests/integration/redis_test_helpers.hpp"

namespace triggerd::testing {
namespace {

using namespace std::chrono_literals;

std::string this_host() {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  return name;
}

using RedisListSource = RedisTest;

TEST_F(RedisListSource, DeliversEveryItemOnceInOrder) {
  constexpr int kItems = 2000;
  push_items(redis, "work", 0, kItems);
  TriggerdProcess triggerd(config_for(list_trigger("work")));
  ASSERT_TRUE(function.wait_for_requests(kItems, 30s)) << function.request_count();
  ASSERT_TRUE(wait_until([&] { return processing_items(redis, "work") == 0; }, 5s));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(distinct_bodies(function), static_cast<std::size_t>(kItems));
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
TEST_F(RedisListSource, TakesItemsInBatchesInTheListsOrder) {
  constexpr int kItems = 600;
  push_items(redis, "ordered", 0, kItems);
  std::string text = redis_config(server.port(), function.url("/fn"),
                                  list_trigger("ordered", {}, {"max_inflight: 50"}));
  text.replace(text.find("max_concurrency: 200"), 20, "max_concurrency: 1");
  TriggerdProcess triggerd(config_file(text));
  ASSERT_TRUE(function.wait_for_requests(kItems, 30s)) << function.request_count();
  const auto requests = function.requests();
  ASSERT_EQ(requests.size(), static_cast<std::size_t>(kItems));
  for (int i = 0; i < kItems; ++i) {
    ASSERT_EQ(requests[static_cast<std::size_t>(i)].body, "item-" + std::to_string(i));
  }
  EXPECT_TRUE(wait_until([&] { return processing_items(redis, "ordered") == 0; }, 5s));
}

// --- Consumer names ----------------------------------------------------------------------------

using RedisListConsumers = RedisTest;

// Two processes on one host, both with the default consumer name (the host name). The second
// is refused while the first runs, instead of returning the first one's items to the queue,
// and takes over once the first stops.
TEST_F(RedisListConsumers, ASecondLiveProcessWithTheSameConsumerNameIsRefused) {
  function.always(StubStep::respond(200).with_delay(200ms));
  constexpr int kItems = 60;
  push_items(redis, "shared", 0, kItems);
  const std::string& config = config_for(list_trigger("shared", {}, {"max_inflight: 2"}));
  auto first = std::make_unique<TriggerdProcess>(config);
  ASSERT_TRUE(function.wait_for_requests(2, 10s));
  TriggerdProcess second(config);
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
  ASSERT_TRUE(wait_until([&] { return distinct_bodies(function) == kItems; }, 20s))
      << distinct_bodies(function) << "\n"
      << second.process().err();
  ASSERT_TRUE(wait_until([&] { return processing_items(redis, "shared") == 0; }, 5s));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(function.request_count(), static_cast<std::uint64_t>(kItems));  // nothing twice
  EXPECT_EQ(trigger_sample(second.admin_port(), "triggerd_source_up", "shared"), 1.0);
}

TEST_F(RedisListConsumers, ProcessesWithTheirOwnConsumerNamesShareTheList) {
  function.always(StubStep::respond(200).with_delay(50ms));
  constexpr int kItems = 200;
  TriggerdProcess a(config_for(list_trigger("split", {"consumer: worker-a"}, {"max_inflight: 5"})));
  TriggerdProcess b(config_for(list_trigger("split", {"consumer: worker-b"}, {"max_inflight: 5"})));
  for (auto* process : {&a, &b}) {
    ASSERT_TRUE(wait_until(
        [&] { return trigger_sample(process->admin_port(), "triggerd_source_up", "split") == 1.0; },
        5s));
  }
  push_items(redis, "split", 0, kItems);
  ASSERT_TRUE(wait_until([&] { return distinct_bodies(function) == kItems; }, 20s))
      << distinct_bodies(function);
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

TEST_F(RedisListConsumers, AConsumerKilledRightAfterItsFirstTakeHasItsItemsReturned) {
  // Killed within moments of its start, before any renewal of its heartbeat: the live consumer
  // must still know of it to return its items, so a consumer is listed before it takes any.
  function.always(StubStep::respond(200).with_delay(30s));  // the first one never finishes
  constexpr int kItems = 5;
  push_items(redis, "early", 0, kItems);
  auto a = std::make_unique<TriggerdProcess>(
      config_for(list_trigger("early", {"consumer: dies-early"}, {"max_inflight: 5"})));
  ASSERT_TRUE(wait_until([&] { return processing_items(redis, "early") == kItems; }, 5s));
  kill(a);

  FunctionStub survivor_function;
  TriggerdProcess b(config_file(
      redis_config(server.port(), survivor_function.url("/fn"),
                   list_trigger("early", {"consumer: lives-on"}, {"max_inflight: 5"}))));
  // The dead consumer's heartbeat expires (10 s), then the survivor returns its items.
  ASSERT_TRUE(wait_until([&] { return distinct_bodies(survivor_function) == kItems; }, 30s))
      << "items of the killed consumer left in its processing list: "
      << processing_items(redis, "early") << "\n"
      << b.process().err();
  EXPECT_EQ(survivor_function.request_count(), static_cast<std::uint64_t>(kItems));
}

}  // namespace
}  // namespace triggerd::testing
