// Crashes and restarts around the redis-stream source: a killed triggerd, a replica killed for
// good, a restarted redis-server (SPEC section 6: at least once, nothing lost).
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <map>
#include <memory>
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

std::string stream_trigger(const std::string& stream, const std::string& consumer,
                           const std::string& extra = "") {
  return "  " + stream +
         ":\n    function: fn\n    source:\n      type: redis-stream\n"
         "      connection: main\n      stream: " +
         stream +
         "\n      start: \"0\"\n"
         "      consumer: " +
         consumer + "\n      claim_idle: 1s\n" + extra + "    delivery:\n      max_inflight: 10\n";
}

void add_entries(RedisTestClient& redis, const std::string& stream, int first, int count) {
  std::vector<std::vector<std::string>> commands;
  for (int i = first; i < first + count; ++i) {
    commands.push_back({"XADD", stream, "*", "data", "entry-" + std::to_string(i)});
  }
  redis.pipeline(commands);
}

long long pending(RedisTestClient& redis, const std::string& stream) {
  ReplyPtr reply = redis.command({"XPENDING", stream, "triggerd"});
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) return -1;
  return reply->element[0]->integer;
}

std::size_t distinct_bodies(const FunctionStub& function) {
  std::map<std::string, int> seen;
  for (const auto& request : function.requests()) ++seen[request.body];
  return seen.size();
}

void kill(std::unique_ptr<TriggerdProcess>& triggerd) {
  triggerd->process().send_signal(SIGKILL);
  triggerd->process().wait_for_exit(5s);
  triggerd.reset();
}

TEST(RedisStreamRecovery, RestartAfterAKillDeliversEverythingAtLeastOnce) {
  RedisServer server;
  RedisTestClient redis(server.port());
  FunctionStub function;
  function.always(StubStep::respond(200).with_delay(300ms));
  constexpr int kEntries = 100;
  add_entries(redis, "crash", 0, kEntries);
  TempFile config(redis_config(server.port(), function.url("/fn"), stream_trigger("crash", "c1")));
  auto triggerd = std::make_unique<TriggerdProcess>(config.path());
  ASSERT_TRUE(function.wait_for_requests(25, 10s));
  kill(triggerd);
  EXPECT_GT(pending(redis, "crash"), 0);
  function.always(200);
  triggerd = std::make_unique<TriggerdProcess>(config.path());
  ASSERT_TRUE(wait_until([&] { return distinct_bodies(function) == kEntries; }, 20s))
      << distinct_bodies(function);
  ASSERT_TRUE(wait_until([&] { return pending(redis, "crash") == 0; }, 5s));
  // Delivered again: what was in flight (max_inflight 10) and what had finished but whose
  // XACK had not landed yet. The kill comes the moment the function sees its 25th request,
  // which is when a batch has just finished: the read-ahead starts the next entries at once,
  // before that batch's XACK has landed. Everything the consumer holds in its PEL is bounded
  // by max_inflight + read-ahead (min(count, max_inflight)): 20.
  EXPECT_LE(function.request_count(), static_cast<std::uint64_t>(kEntries + 20));
}

// A stream trigger with its own delivery.max_inflight and source count (the read-ahead holds
// up to min(count, max_inflight) entries read but not yet started).
std::string read_ahead_trigger(const std::string& stream, const std::string& consumer,
                               int max_inflight, const std::string& extra = "") {
  return "  " + stream +
         ":\n    function: fn\n    source:\n      type: redis-stream\n"
         "      connection: main\n      stream: " +
         stream + "\n      start: \"0\"\n      consumer: " + consumer + "\n" + extra +
         "    delivery:\n      max_inflight: " + std::to_string(max_inflight) + "\n";
}

int entry_number(const std::string& body) { return std::stoi(body.substr(body.find('-') + 1)); }

TEST(RedisStreamRecovery, AKillMidDrainLosesNoReadAheadEntry) {
  RedisServer server;
  RedisTestClient redis(server.port());
  FunctionStub function;
  function.always(StubStep::respond(200).with_delay(200ms));
  constexpr int kEntries = 100;
  constexpr long long kMaxInflight = 8;
  constexpr long long kCount = 4;  // the read-ahead: min(count, max_inflight)
  add_entries(redis, "midway", 0, kEntries);
  TempFile config(redis_config(server.port(), function.url("/fn"),
                               read_ahead_trigger("midway", "c1", 8, "      count: 4\n")));
  auto triggerd = std::make_unique<TriggerdProcess>(config.path());
  ASSERT_TRUE(function.wait_for_requests(20, 10s));
  std::this_thread::sleep_for(100ms);  // half way through the function's 200 ms
  kill(triggerd);
  // Pending in the group: what was in flight and what was read ahead, not yet started.
  const long long left = pending(redis, "midway");
  EXPECT_GT(left, kMaxInflight);
  EXPECT_LE(left, kMaxInflight + kCount);
  const std::uint64_t before_restart = function.request_count();
  function.always(200);
  triggerd = std::make_unique<TriggerdProcess>(config.path());
  ASSERT_TRUE(wait_until([&] { return distinct_bodies(function) == kEntries; }, 20s))
      << distinct_bodies(function);
  ASSERT_TRUE(wait_until([&] { return pending(redis, "midway") == 0; }, 5s));
  std::this_thread::sleep_for(200ms);
  // Delivered again: only what had reached the function before the kill (in flight, or
  // finished and not yet acknowledged); the read-ahead entries had not.
  const std::uint64_t again = function.request_count() - kEntries;
  EXPECT_LE(again, static_cast<std::uint64_t>(kMaxInflight + kCount));
  EXPECT_LE(again, before_restart);
}

TEST(RedisStreamRecovery, MaxInflightOneKeepsStreamOrderAcrossAKill) {
  RedisServer server;
  RedisTestClient redis(server.port());
  FunctionStub function;
  function.always(StubStep::respond(200).with_delay(20ms));
  constexpr int kEntries = 60;
  add_entries(redis, "fifo", 0, kEntries);
  TempFile config(
      redis_config(server.port(), function.url("/fn"), read_ahead_trigger("fifo", "c1", 1)));
  auto triggerd = std::make_unique<TriggerdProcess>(config.path());
  ASSERT_TRUE(function.wait_for_requests(20, 10s));
  kill(triggerd);
  const std::size_t first_run = function.requests().size();
  triggerd = std::make_unique<TriggerdProcess>(config.path());
  ASSERT_TRUE(wait_until([&] { return distinct_bodies(function) == kEntries; }, 20s))
      << distinct_bodies(function);
  ASSERT_TRUE(wait_until([&] { return pending(redis, "fifo") == 0; }, 5s));
  const auto requests = function.requests();
  // Each run starts its entries in stream order, one after the other; the second begins with
  // what the first left pending (in flight or read ahead), so nothing is skipped.
  for (std::size_t i = 0; i < first_run; ++i) {
    ASSERT_EQ(entry_number(requests[i].body), static_cast<int>(i)) << "first run, request " << i;
  }
  ASSERT_GT(requests.size(), first_run);
  const int resumed_at = entry_number(requests[first_run].body);
  EXPECT_LE(resumed_at, static_cast<int>(first_run));
  EXPECT_GE(resumed_at, static_cast<int>(first_run) - 2);
  for (std::size_t i = first_run; i < requests.size(); ++i) {
    ASSERT_EQ(entry_number(requests[i].body), resumed_at + static_cast<int>(i - first_run))
        << "second run, request " << i;
  }
  EXPECT_EQ(entry_number(requests.back().body), kEntries - 1);
}

TEST(RedisStreamRecovery, TwoReplicasWithASlowFunctionDeliverEachEntryOnce) {
  // Each replica holds one entry in flight and one read ahead. The function takes 1.4 s and
  // claim_idle is 2 s: an entry that waited in a read-ahead and then in flight would be idle
  // 2.8 s by its end, long enough for the other replica to claim and deliver it again. The
  // source re-reads a read-ahead entry held longer than claim_idle / 2 before it starts it,
  // which resets its idle time.
  RedisServer server;
  RedisTestClient redis(server.port());
  FunctionStub function;
  function.always(StubStep::respond(200).with_delay(1400ms));
  constexpr int kEntries = 10;
  add_entries(redis, "slow", 0, kEntries);
  const std::string claim = "      claim_idle: 2s\n";
  TempFile config_a(redis_config(server.port(), function.url("/fn"),
                                 read_ahead_trigger("slow", "replica-a", 1, claim)));
  TempFile config_b(redis_config(server.port(), function.url("/fn"),
                                 read_ahead_trigger("slow", "replica-b", 1, claim)));
  TriggerdProcess replica_a(config_a.path());
  TriggerdProcess replica_b(config_b.path());
  ASSERT_TRUE(wait_until([&] { return distinct_bodies(function) == kEntries; }, 30s))
      << distinct_bodies(function);
  ASSERT_TRUE(wait_until([&] { return pending(redis, "slow") == 0; }, 5s));
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(function.request_count(), static_cast<std::uint64_t>(kEntries));
  EXPECT_EQ(replica_a.process().err().find("claimed"), std::string::npos);
  EXPECT_EQ(replica_b.process().err().find("claimed"), std::string::npos);
}

TEST(RedisStreamRecovery, TwoLiveReplicasKeepTheirEntriesWhileTheFunctionOutlastsClaimIdle) {
  // The function takes 4 s and claim_idle is 1 s. Each replica holds up to 5 entries (3 in
  // flight, 2 read ahead), so the two hold all 10 between them, most for far longer than
  // claim_idle. A live replica refreshes the idle time of what it holds (every claim_idle / 3),
  // so the other one never claims an entry that is still being delivered.
  RedisServer server;
  RedisTestClient redis(server.port());
  FunctionStub function;
  function.always(StubStep::respond(200).with_delay(4s));
  constexpr int kEntries = 10;
  add_entries(redis, "busy", 0, kEntries);
  const std::string extra = "      claim_idle: 1s\n      count: 2\n";
  TempFile config_a(redis_config(server.port(), function.url("/fn"),
                                 read_ahead_trigger("busy", "replica-a", 3, extra)));
  TempFile config_b(redis_config(server.port(), function.url("/fn"),
                                 read_ahead_trigger("busy", "replica-b", 3, extra)));
  TriggerdProcess replica_a(config_a.path());
  TriggerdProcess replica_b(config_b.path());
  ASSERT_TRUE(wait_until([&] { return distinct_bodies(function) == kEntries; }, 30s))
      << distinct_bodies(function);
  ASSERT_TRUE(wait_until([&] { return pending(redis, "busy") == 0; }, 10s))
      << pending(redis, "busy");
  std::this_thread::sleep_for(1500ms);  // a claimed entry would be delivered again by now
  EXPECT_EQ(function.request_count(), static_cast<std::uint64_t>(kEntries));
  EXPECT_EQ(replica_a.process().err().find("claimed"), std::string::npos)
      << replica_a.process().err();
  EXPECT_EQ(replica_b.process().err().find("claimed"), std::string::npos)
      << replica_b.process().err();
}

TEST(RedisStreamRecovery, ASecondReplicaClaimsTheEntriesOfAReplicaKilledForGood) {
  RedisServer server;
  RedisTestClient redis(server.port());
  FunctionStub function;
  function.always(StubStep::respond(200).with_delay(300ms));
  constexpr int kEntries = 100;
  add_entries(redis, "shared", 0, kEntries);
  TempFile config_a(
      redis_config(server.port(), function.url("/fn"), stream_trigger("shared", "replica-a")));
  TempFile config_b(
      redis_config(server.port(), function.url("/fn"), stream_trigger("shared", "replica-b")));
  auto replica_a = std::make_unique<TriggerdProcess>(config_a.path());
  TriggerdProcess replica_b(config_b.path());
  ASSERT_TRUE(function.wait_for_requests(30, 10s));
  kill(replica_a);
  function.always(200);
  ASSERT_TRUE(wait_until([&] { return distinct_bodies(function) == kEntries; }, 20s))
      << distinct_bodies(function);
  ASSERT_TRUE(wait_until([&] { return pending(redis, "shared") == 0; }, 5s));
  EXPECT_NE(replica_b.process().err().find("claimed"), std::string::npos);
}

TEST(RedisStreamRecovery, ReconnectsAfterRedisRestartsAndLosesNothing) {
  RedisServer server(RedisServerOptions{.appendonly = true});
  FunctionStub function;
  TempFile config(
      redis_config(server.port(), function.url("/fn"), stream_trigger("durable", "c1")));
  TriggerdProcess triggerd(config.path());
  auto up = [&] { return trigger_sample(triggerd.admin_port(), "triggerd_source_up", "durable"); };
  ASSERT_TRUE(wait_until([&] { return up() == 1.0; }, 5s));
  {
    RedisTestClient redis(server.port());
    add_entries(redis, "durable", 0, 100);
  }
  ASSERT_TRUE(function.wait_for_requests(100, 10s));
  server.stop();
  EXPECT_TRUE(wait_until([&] { return up() == 0.0; }, 5s));
  EXPECT_EQ(http_get(triggerd.admin_port(), "/readyz").status, 503);
  server.start();
  EXPECT_TRUE(wait_until([&] { return up() == 1.0; }, 10s));
  RedisTestClient redis(server.port());
  add_entries(redis, "durable", 100, 100);
  ASSERT_TRUE(wait_until([&] { return distinct_bodies(function) == 200; }, 15s))
      << distinct_bodies(function);
  ASSERT_TRUE(wait_until([&] { return pending(redis, "durable") == 0; }, 5s));
  EXPECT_EQ(http_get(triggerd.admin_port(), "/readyz").status, 200);
}

TEST(RedisStreamRecovery, ARedisRestartUnderLoadIsCountedAndLosesNothing) {
  RedisServer server(RedisServerOptions{.appendonly = true});
  FunctionStub function;
  function.always(StubStep::respond(200).with_delay(50ms));
  constexpr int kEntries = 400;
  {
    RedisTestClient redis(server.port());
    add_entries(redis, "loaded", 0, kEntries);
  }
  TempFile config(redis_config(server.port(), function.url("/fn"), stream_trigger("loaded", "c1")));
  TriggerdProcess triggerd(config.path());
  ASSERT_TRUE(function.wait_for_requests(100, 10s));
  EXPECT_EQ(source_errors(triggerd.admin_port(), "loaded"), 0.0);
  server.stop();
  std::this_thread::sleep_for(500ms);
  server.start();
  ASSERT_TRUE(wait_until([&] { return distinct_bodies(function) == kEntries; }, 20s))
      << distinct_bodies(function);
  RedisTestClient redis(server.port());
  ASSERT_TRUE(wait_until([&] { return pending(redis, "loaded") == 0; }, 5s))
      << pending(redis, "loaded");
  // The failed reads, acks and reconnects while Redis was away.
  const auto errors = source_errors(triggerd.admin_port(), "loaded");
  ASSERT_TRUE(errors.has_value());
  EXPECT_GT(*errors, 0.0);
  // At most what was in flight and read ahead at the restart comes again.
  EXPECT_LE(function.request_count(), static_cast<std::uint64_t>(kEntries + 20));
}

TEST(RedisCronLock, ThreeReplicasFireEachTickOnce) {
  RedisServer server;
  FunctionStub function;
  TempFile config(redis_config(server.port(), function.url("/fn"),
                               "  tick:\n    function: fn\n    source: {type: cron, schedule: "
                               "\"* * * * * *\", lock: main}\n"));
  std::vector<std::unique_ptr<TriggerdProcess>> replicas;
  for (int i = 0; i < 3; ++i) replicas.push_back(std::make_unique<TriggerdProcess>(config.path()));
  std::this_thread::sleep_for(5s);
  replicas.clear();
  std::map<std::string, int> ticks;
  for (const auto& request : function.requests()) ++ticks[request.header("ce-id")];
  EXPECT_GE(ticks.size(), 4u);
  for (const auto& [id, count] : ticks) EXPECT_EQ(count, 1) << id;
}

TEST(RedisCronLock, ATickSkippedForWantOfRedisIsCountedAsASourceError) {
  FunctionStub function;
  const std::uint16_t nothing_there = free_port();
  TempFile config(redis_config(nothing_there, function.url("/fn"),
                               "  tick:\n    function: fn\n    source: {type: cron, schedule: "
                               "\"* * * * * *\", lock: main}\n"));
  TriggerdProcess triggerd(config.path());
  EXPECT_TRUE(wait_until(
      [&] {
        const auto errors = source_errors(triggerd.admin_port(), "tick");
        return errors.has_value() && *errors >= 2.0;
      },
      5s))
      << triggerd.process().err();
  const HttpResponse metrics = http_get(triggerd.admin_port(), "/metrics");
  EXPECT_NE(metrics.body.find("triggerd_source_errors_total{kind=\"connect\",trigger=\"tick\"}"),
            std::string::npos)
      << metrics.body;
  EXPECT_GE(trigger_sample(triggerd.admin_port(), "triggerd_cron_ticks_skipped_total", "tick"),
            2.0);
  EXPECT_EQ(function.request_count(), 0u);  // never fired without its lock
}

TEST(RedisDrain, SigtermExitsZeroAndTheNextStartFinishesTheRest) {
  RedisServer server;
  RedisTestClient redis(server.port());
  FunctionStub function;
  function.always(StubStep::respond(200).with_delay(100ms));
  TempFile config(redis_config(
      server.port(), function.url("/fn"),
      stream_trigger("drained", "c1") +
          "      dead_letter: {type: redis-stream, connection: main, stream: dlq}\n"
          "  items:\n    function: fn\n    source: {type: redis-list, connection: main, "
          "list: items}\n"
          "  tick:\n    function: fn\n    source: {type: cron, schedule: \"@every 1h\", "
          "lock: main}\n"));
  auto triggerd = std::make_unique<TriggerdProcess>(config.path());
  add_entries(redis, "drained", 0, 20);
  redis.command({"LPUSH", "items", "a", "b", "c"});
  ASSERT_TRUE(function.wait_for_requests(5, 10s));
  triggerd->process().send_signal(SIGTERM);
  EXPECT_EQ(triggerd->process().wait_for_exit(10s), 0) << triggerd->process().err();
  triggerd.reset();
  // Whatever the drain left unacknowledged (a read that was under way when it began) is
  // delivered by the next start: nothing is lost.
  function.always(200);
  triggerd = std::make_unique<TriggerdProcess>(config.path());
  ASSERT_TRUE(wait_until([&] { return distinct_bodies(function) == 23; }, 10s))
      << distinct_bodies(function);
  ASSERT_TRUE(wait_until([&] { return pending(redis, "drained") == 0; }, 5s));
  EXPECT_EQ(redis.integer({"LLEN", "items"}), 0);
}

// SIGTERM with Redis gone and events in flight: the events finish, their XACKs cannot be
// written, and the process still exits by shutdown_timeout (2 s here) rather than retrying
// them: the entries stay pending and are delivered again.
TEST(RedisDrain, StreamExitsWithinShutdownTimeoutWhenRedisIsGone) {
  RedisServer server;
  FunctionStub function;
  function.always(StubStep::respond(200).with_delay(1s));
  {
    RedisTestClient redis(server.port());
    add_entries(redis, "orphaned", 0, 30);
  }
  TempFile config(
      redis_config(server.port(), function.url("/fn"), stream_trigger("orphaned", "c1")));
  TriggerdProcess triggerd(config.path());
  ASSERT_TRUE(function.wait_for_requests(10, 10s));
  server.stop();
  const auto signalled = std::chrono::steady_clock::now();
  triggerd.process().send_signal(SIGTERM);
  const auto exit_code = triggerd.process().wait_for_exit(15s);
  const auto took = std::chrono::steady_clock::now() - signalled;
  EXPECT_EQ(exit_code, 0) << triggerd.process().err();
  EXPECT_LT(took, 3s) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                      << " ms\n"
                      << triggerd.process().err();
  EXPECT_NE(triggerd.process().err().find("not written by the shutdown deadline"),
            std::string::npos)
      << triggerd.process().err();
}

// A drain that has the time: every event that finished is acknowledged before the exit, so
// the next start delivers only what was never sent (the read-ahead), nothing twice.
TEST(RedisDrain, StreamAcknowledgesEverythingThatFinishedBeforeTheExit) {
  RedisServer server;
  RedisTestClient redis(server.port());
  FunctionStub function;
  function.always(StubStep::respond(200).with_delay(1s));
  constexpr int kEntries = 30;
  add_entries(redis, "handover", 0, kEntries);
  TempFile config(with_shutdown_timeout(
      redis_config(server.port(), function.url("/fn"),
                   read_ahead_trigger("handover", "c1", 5, "      count: 5\n")),
      "5s"));
  auto triggerd = std::make_unique<TriggerdProcess>(config.path());
  ASSERT_TRUE(function.wait_for_requests(5, 10s));
  triggerd->process().send_signal(SIGTERM);
  EXPECT_EQ(triggerd->process().wait_for_exit(10s), 0) << triggerd->process().err();
  triggerd.reset();
  const std::size_t first_run = function.requests().size();
  // Still pending: only the read-ahead, never sent.
  EXPECT_LE(pending(redis, "handover"), 5);
  function.always(200);
  triggerd = std::make_unique<TriggerdProcess>(config.path());
  ASSERT_TRUE(wait_until([&] { return distinct_bodies(function) == kEntries; }, 20s))
      << distinct_bodies(function);
  ASSERT_TRUE(wait_until([&] { return pending(redis, "handover") == 0; }, 5s));
  std::this_thread::sleep_for(200ms);
  EXPECT_GE(first_run, 5u);
  EXPECT_EQ(function.request_count(), static_cast<std::uint64_t>(kEntries));
}

}  // namespace
}  // namespace triggerd::testing
