// Crashes, restarts and drains around the Redis sources (SPEC section 6: at least once, nothing
// lost). What both sources promise runs once per source, from one table of what tells them
// apart; then the redis-stream source's own cases (a killed triggerd, a replica killed for good,
// live replicas side by side) and the cron lock.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/redis_test_helpers.hpp"
#include "tests/support/free_port.hpp"

namespace triggerd::testing {
namespace {

using namespace std::chrono_literals;

// --- Both sources ---------------------------------------------------------------------------------

// One Redis source as these cases drive it: how its queue is filled and read, and what tells
// it apart from the other.
struct QueueKind {
  const char* name;
  std::string (*trigger)(const std::string& name, const Lines& source, const Lines& delivery);
  void (*fill)(RedisTestClient& redis, const std::string& queue, int first, int count);
  // Waiting in Redis, not yet taken by any consumer.
  long long (*waiting)(RedisTestClient& redis, const std::string& queue);
  // Taken by a consumer and not yet acknowledged (LREM, XACK).
  long long (*unacknowledged)(RedisTestClient& redis, const std::string& queue);
  // Source lines of every case: one consumer name, so that a restart is the same consumer.
  Lines source;
  // Whether entries are read ahead: min(count, max_inflight) of them (count: 100 by default)
  // taken beyond those in flight.
  bool reads_ahead;
  // What the log says of acknowledgements the shutdown deadline left unwritten.
  const char* unwritten;
  // The key a consumer gives up at a clean exit, after QUEUE; none when empty.
  const char* released;

  // What a consumer with `max_inflight` holds at most, taken and not acknowledged: all that a
  // crash delivers again.
  long long held(long long max_inflight) const {
    return max_inflight + (reads_ahead ? std::min(100LL, max_inflight) : 0);
  }
};

long long list_length(RedisTestClient& redis, const std::string& list) {
  return redis.integer({"LLEN", list});
}

const QueueKind kList{
    .name = "List",
    .trigger = list_trigger,
    .fill = push_items,
    .waiting = list_length,
    .unacknowledged = processing_items,
    .source = {"consumer: c1"},
    .reads_ahead = false,
    .unwritten = "by the shutdown deadline; they will be delivered again",
    .released = ":consumer:c1",
};

const QueueKind kStream{
    .name = "Stream",
    .trigger = stream_trigger,
    .fill = add_entries,
    .waiting = group_lag,
    .unacknowledged = pending,
    .source = {"consumer: c1", "claim_idle: 1s"},
    .reads_ahead = true,
    .unwritten = "not written by the shutdown deadline",
    .released = "",
};

template <typename Base>
class ForEachQueue : public Base, public ::testing::WithParamInterface<QueueKind> {
 protected:
  const QueueKind& kind() const { return this->GetParam(); }
  // The config of one trigger `queue` of this kind, with its delivery's max_inflight.
  const std::string& queue_config(const std::string& queue, int max_inflight) {
    return this->config_for(
        kind().trigger(queue, kind().source, {"max_inflight: " + std::to_string(max_inflight)}));
  }
  // Nothing of `queue` is left in Redis to take or to acknowledge.
  bool finished(RedisTestClient& client, const std::string& queue) const {
    return kind().waiting(client, queue) == 0 && kind().unacknowledged(client, queue) == 0;
  }
};

class RedisQueueRecovery : public ForEachQueue<RedisTest> {};
class RedisQueueRestart : public ForEachQueue<DurableRedisTest> {};
class RedisQueueDrain : public ForEachQueue<RedisTest> {};

std::string kind_name(const ::testing::TestParamInfo<QueueKind>& info) { return info.param.name; }
INSTANTIATE_TEST_SUITE_P(Sources, RedisQueueRecovery, ::testing::Values(kList, kStream), kind_name);
INSTANTIATE_TEST_SUITE_P(Sources, RedisQueueRestart, ::testing::Values(kList, kStream), kind_name);
INSTANTIATE_TEST_SUITE_P(Sources, RedisQueueDrain, ::testing::Values(kList, kStream), kind_name);

TEST_P(RedisQueueRecovery, ReportsTheWholeBacklogWhileTheFunctionIsDown) {
  const std::string down = "http://127.0.0.1:" + std::to_string(free_port()) + "/fn";
  TriggerdProcess triggerd(config_file(redis_config(
      server.port(), down,
      kind().trigger("backlog", {}, {"retries: 100", "backoff: {policy: constant, delay: 1s}"}))));
  ASSERT_TRUE(
      wait_until([&] { return http_get(triggerd.admin_port(), "/readyz").status == 200; }, 5s));
  kind().fill(redis, "backlog", 0, 500);
  EXPECT_TRUE(reports_backlog(triggerd.admin_port(), "backlog", 500))
      << boost::json::serialize(trigger_info(triggerd.admin_port(), "backlog"));
  const auto depth = trigger_sample(triggerd.admin_port(), "triggerd_queue_depth", "backlog");
  const auto inflight =
      trigger_sample(triggerd.admin_port(), "triggerd_inflight_events", "backlog");
  ASSERT_TRUE(depth && inflight);
  EXPECT_EQ(*depth + *inflight, 500.0);
  EXPECT_EQ(*inflight, 100.0);  // max_inflight: the rest waits in Redis
  EXPECT_TRUE(wait_until(
      [&] { return kind().unacknowledged(redis, "backlog") == kind().held(100); }, 5s))
      << kind().unacknowledged(redis, "backlog");
}

TEST_P(RedisQueueRecovery, RestartAfterAKillDeliversEverythingAtLeastOnce) {
  function.always(StubStep::respond(200).with_delay(300ms));
  constexpr int kItems = 100;
  kind().fill(redis, "crash", 0, kItems);
  const std::string& config = queue_config("crash", 10);
  auto triggerd = std::make_unique<TriggerdProcess>(config);
  ASSERT_TRUE(function.wait_for_requests(25, 10s));
  kill(triggerd);
  EXPECT_GT(kind().unacknowledged(redis, "crash"), 0);  // what was held at the kill
  function.always(200);
  triggerd = std::make_unique<TriggerdProcess>(config);
  ASSERT_TRUE(wait_until([&] { return distinct_bodies(function) == kItems; }, 20s))
      << distinct_bodies(function);
  ASSERT_TRUE(wait_until([&] { return finished(redis, "crash"); }, 5s));
  // Delivered again: what was in flight (max_inflight 10) and what had finished but whose
  // acknowledgement had not landed yet. The kill comes the moment the function sees its 25th
  // request, which is when a batch has just finished: a stream's read-ahead starts the next
  // entries at once, before that batch's XACK has landed. Everything a consumer holds is
  // bounded by max_inflight (plus the read-ahead, min(count, max_inflight), for a stream).
  EXPECT_LE(function.request_count(), static_cast<std::uint64_t>(kItems + kind().held(10)));
}

TEST_P(RedisQueueRestart, ReconnectsAfterRedisRestartsAndLosesNothing) {
  TriggerdProcess triggerd(queue_config("durable", 10));
  auto up = [&] { return trigger_sample(triggerd.admin_port(), "triggerd_source_up", "durable"); };
  ASSERT_TRUE(wait_until([&] { return up() == 1.0; }, 5s));
  kind().fill(redis, "durable", 0, 100);
  ASSERT_TRUE(function.wait_for_requests(100, 10s));
  server.stop();
  EXPECT_TRUE(wait_until([&] { return up() == 0.0; }, 5s));
  EXPECT_EQ(http_get(triggerd.admin_port(), "/readyz").status, 503);
  server.start();
  EXPECT_TRUE(wait_until([&] { return up() == 1.0; }, 10s));
  RedisTestClient restarted(server.port());
  kind().fill(restarted, "durable", 100, 100);
  ASSERT_TRUE(wait_until([&] { return distinct_bodies(function) == 200; }, 15s))
      << distinct_bodies(function);
  ASSERT_TRUE(wait_until([&] { return finished(restarted, "durable"); }, 5s));
  EXPECT_EQ(http_get(triggerd.admin_port(), "/readyz").status, 200);
}

TEST_P(RedisQueueRestart, ARedisRestartUnderLoadIsCountedAndLosesNothing) {
  function.always(StubStep::respond(200).with_delay(50ms));
  constexpr int kItems = 400;
  kind().fill(redis, "loaded", 0, kItems);
  TriggerdProcess triggerd(queue_config("loaded", 10));
  ASSERT_TRUE(function.wait_for_requests(100, 10s));
  EXPECT_EQ(source_errors(triggerd.admin_port(), "loaded"), 0.0);
  server.stop();
  std::this_thread::sleep_for(500ms);
  server.start();
  ASSERT_TRUE(wait_until([&] { return distinct_bodies(function) == kItems; }, 20s))
      << distinct_bodies(function);
  RedisTestClient restarted(server.port());
  ASSERT_TRUE(wait_until([&] { return finished(restarted, "loaded"); }, 5s))
      << kind().unacknowledged(restarted, "loaded");
  // The failed reads, acks and reconnects while Redis was away.
  const auto errors = source_errors(triggerd.admin_port(), "loaded");
  ASSERT_TRUE(errors.has_value());
  EXPECT_GT(*errors, 0.0);
  // At most what was held (in flight, read ahead) at the restart comes again.
  EXPECT_LE(function.request_count(), static_cast<std::uint64_t>(kItems + kind().held(10)));
}

// SIGTERM with Redis gone and events in flight: the events finish, their acknowledgements
// cannot be written, and the process still exits by shutdown_timeout (2 s here) rather than
// retrying them: the items stay unacknowledged and are delivered again.
TEST_P(RedisQueueDrain, ExitsWithinShutdownTimeoutWhenRedisIsGone) {
  function.always(StubStep::respond(200).with_delay(1s));
  kind().fill(redis, "orphaned", 0, 30);
  TriggerdProcess triggerd(queue_config("orphaned", 10));
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
  EXPECT_NE(triggerd.process().err().find(kind().unwritten), std::string::npos)
      << triggerd.process().err();
}

// A drain that has the time: every event that finished is acknowledged before the exit, so
// the next start delivers only what was never sent (a stream's read-ahead), nothing twice.
TEST_P(RedisQueueDrain, AcknowledgesEverythingThatFinishedBeforeTheExit) {
  function.always(StubStep::respond(200).with_delay(1s));
  constexpr int kItems = 30;
  kind().fill(redis, "handover", 0, kItems);
  const std::string& config = config_file(with_shutdown_timeout(
      redis_config(server.port(), function.url("/fn"),
                   kind().trigger("handover", kind().source, {"max_inflight: 5"})),
      "5s"));
  auto triggerd = std::make_unique<TriggerdProcess>(config);
  ASSERT_TRUE(function.wait_for_requests(5, 10s));
  triggerd->process().send_signal(SIGTERM);
  EXPECT_EQ(triggerd->process().wait_for_exit(10s), 0) << triggerd->process().err();
  triggerd.reset();
  const std::size_t first_run = function.requests().size();
  // Still unacknowledged: only the read-ahead, never sent.
  EXPECT_LE(kind().unacknowledged(redis, "handover"), kind().held(5) - 5);
  // The consumer name was given up.
  const std::string released = kind().released;
  if (!released.empty()) {
    EXPECT_EQ(redis.integer({"EXISTS", "handover" + released}), 0);
  }
  function.always(200);
  triggerd = std::make_unique<TriggerdProcess>(config);
  ASSERT_TRUE(wait_until([&] { return distinct_bodies(function) == kItems; }, 20s))
      << distinct_bodies(function);
  ASSERT_TRUE(wait_until([&] { return finished(redis, "handover"); }, 5s));
  std::this_thread::sleep_for(200ms);
  EXPECT_GE(first_run, 5u);
  EXPECT_EQ(function.request_count(), static_cast<std::uint64_t>(kItems));
}

// --- The redis-stream source ----------------------------------------------------------------------

class RedisStreamRecovery : public RedisTest {
 protected:
  // Two replicas of one trigger `queue` (consumers replica-a and replica-b) with `source` and
  // `delivery` lines deliver until all `entries` are done: each once, and neither replica
  // claims anything of the other's.
  void expect_each_entry_once(const std::string& queue, int entries, const Lines& source,
                              const Lines& delivery) {
    auto replica = [&](const std::string& consumer) {
      Lines lines = source;
      lines.push_back("consumer: " + consumer);
      return std::make_unique<TriggerdProcess>(
          config_for(stream_trigger(queue, lines, delivery)));
    };
    auto replica_a = replica("replica-a");
    auto replica_b = replica("replica-b");
    ASSERT_TRUE(wait_until(
        [&] { return distinct_bodies(function) == static_cast<std::size_t>(entries); }, 30s))
        << distinct_bodies(function);
    ASSERT_TRUE(wait_until([&] { return pending(redis, queue) == 0; }, 10s))
        << pending(redis, queue);
    std::this_thread::sleep_for(1500ms);  // a claimed entry would be delivered again by now
    EXPECT_EQ(function.request_count(), static_cast<std::uint64_t>(entries));
    EXPECT_EQ(replica_a->process().err().find("claimed"), std::string::npos)
        << replica_a->process().err();
    EXPECT_EQ(replica_b->process().err().find("claimed"), std::string::npos)
        << replica_b->process().err();
  }
};

int entry_number(const std::string& body) { return std::stoi(body.substr(body.find('-') + 1)); }

TEST_F(RedisStreamRecovery, AKillMidDrainLosesNoReadAheadEntry) {
  function.always(StubStep::respond(200).with_delay(200ms));
  constexpr int kEntries = 100;
  constexpr long long kMaxInflight = 8;
  constexpr long long kCount = 4;  // the read-ahead: min(count, max_inflight)
  add_entries(redis, "midway", 0, kEntries);
  const std::string& config =
      config_for(stream_trigger("midway", {"consumer: c1", "count: 4"}, {"max_inflight: 8"}));
  auto triggerd = std::make_unique<TriggerdProcess>(config);
  ASSERT_TRUE(function.wait_for_requests(20, 10s));
  std::this_thread::sleep_for(100ms);  // half way through the function's 200 ms
  kill(triggerd);
  // Pending in the group: what was in flight and what was read ahead, not yet started.
  const long long left = pending(redis, "midway");
  EXPECT_GT(left, kMaxInflight);
  EXPECT_LE(left, kMaxInflight + kCount);
  const std::uint64_t before_restart = function.request_count();
  function.always(200);
  triggerd = std::make_unique<TriggerdProcess>(config);
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

TEST_F(RedisStreamRecovery, MaxInflightOneKeepsStreamOrderAcrossAKill) {
  function.always(StubStep::respond(200).with_delay(20ms));
  constexpr int kEntries = 60;
  add_entries(redis, "fifo", 0, kEntries);
  const std::string& config =
      config_for(stream_trigger("fifo", {"consumer: c1"}, {"max_inflight: 1"}));
  auto triggerd = std::make_unique<TriggerdProcess>(config);
  ASSERT_TRUE(function.wait_for_requests(20, 10s));
  kill(triggerd);
  const std::size_t first_run = function.requests().size();
  triggerd = std::make_unique<TriggerdProcess>(config);
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

TEST_F(RedisStreamRecovery, TwoReplicasWithASlowFunctionDeliverEachEntryOnce) {
  // Each replica holds one entry in flight and one read ahead. The function takes 1.4 s and
  // claim_idle is 2 s: an entry that waited in a read-ahead and then in flight would be idle
  // 2.8 s by its end, long enough for the other replica to claim and deliver it again. The
  // source re-reads a read-ahead entry held longer than claim_idle / 2 before it starts it,
  // which resets its idle time.
  function.always(StubStep::respond(200).with_delay(1400ms));
  add_entries(redis, "slow", 0, 10);
  expect_each_entry_once("slow", 10, {"claim_idle: 2s"}, {"max_inflight: 1"});
}

TEST_F(RedisStreamRecovery, TwoLiveReplicasKeepTheirEntriesWhileTheFunctionOutlastsClaimIdle) {
  // The function takes 4 s and claim_idle is 1 s. Each replica holds up to 5 entries (3 in
  // flight, 2 read ahead), so the two hold all 10 between them, most for far longer than
  // claim_idle. A live replica refreshes the idle time of what it holds (every claim_idle / 3),
  // so the other one never claims an entry that is still being delivered.
  function.always(StubStep::respond(200).with_delay(4s));
  add_entries(redis, "busy", 0, 10);
  expect_each_entry_once("busy", 10, {"claim_idle: 1s", "count: 2"}, {"max_inflight: 3"});
}

TEST_F(RedisStreamRecovery, ASecondReplicaClaimsTheEntriesOfAReplicaKilledForGood) {
  function.always(StubStep::respond(200).with_delay(300ms));
  constexpr int kEntries = 100;
  add_entries(redis, "shared", 0, kEntries);
  const Lines delivery{"max_inflight: 10"};
  auto replica_a = std::make_unique<TriggerdProcess>(config_for(
      stream_trigger("shared", {"consumer: replica-a", "claim_idle: 1s"}, delivery)));
  TriggerdProcess replica_b(
      config_for(stream_trigger("shared", {"consumer: replica-b", "claim_idle: 1s"}, delivery)));
  ASSERT_TRUE(function.wait_for_requests(30, 10s));
  kill(replica_a);
  function.always(200);
  ASSERT_TRUE(wait_until([&] { return distinct_bodies(function) == kEntries; }, 20s))
      << distinct_bodies(function);
  ASSERT_TRUE(wait_until([&] { return pending(redis, "shared") == 0; }, 5s));
  EXPECT_NE(replica_b.process().err().find("claimed"), std::string::npos);
}

using RedisDrain = RedisTest;

TEST_F(RedisDrain, SigtermExitsZeroAndTheNextStartFinishesTheRest) {
  function.always(StubStep::respond(200).with_delay(100ms));
  const std::string& config = config_for(
      stream_trigger("drained", {"consumer: c1", "claim_idle: 1s"},
                     {"max_inflight: 10",
                      "dead_letter: {type: redis-stream, connection: main, stream: dlq}"}) +
      list_trigger("items") +
      "  tick:\n    function: fn\n    source: {type: cron, schedule: \"@every 1h\", "
      "lock: main}\n");
  auto triggerd = std::make_unique<TriggerdProcess>(config);
  add_entries(redis, "drained", 0, 20);
  redis.command({"LPUSH", "items", "a", "b", "c"});
  ASSERT_TRUE(function.wait_for_requests(5, 10s));
  triggerd->process().send_signal(SIGTERM);
  EXPECT_EQ(triggerd->process().wait_for_exit(10s), 0) << triggerd->process().err();
  triggerd.reset();
  // Whatever the drain left unacknowledged (a read that was under way when it began) is
  // delivered by the next start: nothing is lost.
  function.always(200);
  triggerd = std::make_unique<TriggerdProcess>(config);
  ASSERT_TRUE(wait_until([&] { return distinct_bodies(function) == 23; }, 10s))
      << distinct_bodies(function);
  ASSERT_TRUE(wait_until([&] { return pending(redis, "drained") == 0; }, 5s));
  EXPECT_EQ(redis.integer({"LLEN", "items"}), 0);
}

// --- The cron lock --------------------------------------------------------------------------------

const std::string kTick =
    "  tick:\n    function: fn\n    source: {type: cron, schedule: \"* * * * * *\", lock: main}\n";

using RedisCronLock = RedisTest;

TEST_F(RedisCronLock, ThreeReplicasFireEachTickOnce) {
  const std::string& config = config_for(kTick);
  std::vector<std::unique_ptr<TriggerdProcess>> replicas;
  for (int i = 0; i < 3; ++i) replicas.push_back(std::make_unique<TriggerdProcess>(config));
  std::this_thread::sleep_for(5s);
  replicas.clear();
  std::map<std::string, int> ticks;
  for (const auto& request : function.requests()) ++ticks[request.header("ce-id")];
  EXPECT_GE(ticks.size(), 4u);
  for (const auto& [id, count] : ticks) EXPECT_EQ(count, 1) << id;
}

TEST_F(RedisCronLock, ATickSkippedForWantOfRedisIsCountedAsASourceError) {
  const std::uint16_t nothing_there = free_port();
  TriggerdProcess triggerd(config_file(redis_config(nothing_there, function.url("/fn"), kTick)));
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

}  // namespace
}  // namespace triggerd::testing
