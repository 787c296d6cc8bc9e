// The redis-stream source and the redis dead letters through the real binary, against a real
// redis-server and a function stub (SPEC sections 2, 3, 5 and 6). What it shares with the
// redis-list source (crashes, restarts, the drain) is in redis_recovery_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/redis_test_helpers.hpp"
#include "tests/support/host_resolves.hpp"

namespace triggerd::testing {
namespace {

using namespace std::chrono_literals;

using RedisStreamSource = RedisTest;

TEST_F(RedisStreamSource, DeliversTenThousandEntriesEachOnce) {
  constexpr int kEntries = 10000;
  add_entries(redis, "jobs", 0, kEntries);
  TriggerdProcess triggerd(config_for(stream_trigger("jobs", {"consumer: c1"})));

  ASSERT_TRUE(function.wait_for_requests(kEntries, 60s)) << function.request_count();
  ASSERT_TRUE(wait_until([&] { return pending(redis, "jobs") == 0; }, 10s))
      << pending(redis, "jobs");
  std::this_thread::sleep_for(200ms);  // a duplicate would show up now
  const auto requests = function.requests();
  EXPECT_EQ(requests.size(), static_cast<std::size_t>(kEntries));
  std::set<std::string> ids;
  std::set<std::string> bodies;
  for (const auto& request : requests) {
    ids.insert(request.header("ce-id"));
    bodies.insert(request.body);
  }
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kEntries));
  EXPECT_EQ(bodies.size(), static_cast<std::size_t>(kEntries));
  EXPECT_TRUE(bodies.contains("entry-9999"));
  EXPECT_EQ(requests.front().header("ce-type"), "dev.triggerd.redis.stream.entry");
  EXPECT_EQ(requests.front().header("ce-source"), "redis://main/jobs");
  EXPECT_EQ(requests.front().header("content-type"), "application/octet-stream");
  EXPECT_TRUE(wait_until(
      [&] {
        return trigger_sample(triggerd.admin_port(), "triggerd_queue_depth", "jobs") == 0.0 &&
               trigger_sample(triggerd.admin_port(), "triggerd_inflight_events", "jobs") == 0.0;
      },
      5s));
  EXPECT_EQ(trigger_sample(triggerd.admin_port(), "triggerd_source_up", "jobs"), 1.0);
  EXPECT_EQ(http_get(triggerd.admin_port(), "/readyz").status, 200);
}

TEST_F(RedisStreamSource, SendsEntriesWithSeveralFieldsAsJson) {
  redis.command({"XADD", "shapes", "*", "kind", "circle", "r", "2"});
  TriggerdProcess triggerd(config_for(stream_trigger("shapes")));
  ASSERT_TRUE(function.wait_for_requests(1, 10s));
  const auto request = function.requests().front();
  EXPECT_EQ(request.header("content-type"), "application/json");
  EXPECT_EQ(request.body, R"({"kind":"circle","r":"2"})");
}

using RedisStreamDeadLetter = RedisTest;

TEST_F(RedisStreamDeadLetter, TakesEveryEntryTheFunctionKeepsFailing) {
  function.always(500);
  constexpr int kEntries = 50;
  add_entries(redis, "failing", 0, kEntries);
  TriggerdProcess triggerd(config_for(
      stream_trigger("failing", {},
                     {"retries: 2", "backoff: {delay: 10ms, max: 20ms}",
                      "dead_letter: {type: redis-stream, connection: main, stream: dlq}"})));
  ASSERT_TRUE(wait_until(
      [&] {
        return redis.integer({"XLEN", "dlq"}) >= kEntries;
      },
      20s))
      << redis.integer({"XLEN", "dlq"});
  ASSERT_TRUE(wait_until([&] { return pending(redis, "failing") == 0; }, 5s));
  EXPECT_EQ(redis.integer({"XLEN", "dlq"}), kEntries);
  EXPECT_EQ(function.request_count(), 3u * kEntries);
  ReplyPtr first = redis.command({"XRANGE", "dlq", "-", "+", "COUNT", "1"});
  ASSERT_EQ(first->type, REDIS_REPLY_ARRAY);
  ASSERT_EQ(first->elements, 1u);
  const redisReply* fields = first->element[0]->element[1];
  std::map<std::string, std::string> entry;
  for (std::size_t i = 0; i + 1 < fields->elements; i += 2) {
    entry[fields->element[i]->str] = fields->element[i + 1]->str;
  }
  EXPECT_EQ(entry["attempts"], "3");
  EXPECT_EQ(entry["last_status"], "500");
  EXPECT_EQ(entry["trigger"], "failing");
  EXPECT_EQ(entry["function"], "fn");
  EXPECT_TRUE(entry["data"].starts_with("entry-"));
  EXPECT_FALSE(entry["first_attempt"].empty());
  EXPECT_EQ(trigger_sample(triggerd.admin_port(), "triggerd_events_dead_lettered_total", "failing"),
            static_cast<double>(kEntries));
}

TEST_F(RedisStreamDeadLetter, ListDeadLetterGetsAJsonEnvelope) {
  function.always(400);
  add_entries(redis, "rejected", 0, 3);
  TriggerdProcess triggerd(config_for(stream_trigger(
      "rejected", {}, {"dead_letter: {type: redis-list, connection: main, list: dlq}"})));
  ASSERT_TRUE(wait_until([&] { return redis.integer({"LLEN", "dlq"}) == 3; }, 10s));
  ASSERT_TRUE(wait_until([&] { return pending(redis, "rejected") == 0; }, 5s));
  const auto envelope = boost::json::parse(redis.text({"LINDEX", "dlq", "0"})).as_object();
  EXPECT_EQ(envelope.at("attempts").as_int64(), 1);
  EXPECT_EQ(envelope.at("last_status").as_int64(), 400);
  EXPECT_EQ(envelope.at("trigger").as_string(), "rejected");
  EXPECT_EQ(envelope.at("type").as_string(), "dev.triggerd.redis.stream.entry");
  EXPECT_TRUE(envelope.at("data").as_string().starts_with("entry-"));
}

TEST_F(RedisStreamSource, ConnectsToRedisByHostName) {
  // The name is looked up off the event loop; "localhost" may give ::1 first, where this
  // server does not listen: the next address is tried.
  TRIGGERD_SKIP_UNLESS_RESOLVES("localhost");
  add_entries(redis, "named", 0, 20);
  std::string text = redis_config(server.port(), function.url("/fn"), stream_trigger("named"));
  text.replace(text.find("address: 127.0.0.1:"), 19, "address: localhost:");
  TriggerdProcess triggerd(config_file(text));
  ASSERT_TRUE(function.wait_for_requests(20, 10s)) << triggerd.process().err();
  EXPECT_TRUE(wait_until([&] { return pending(redis, "named") == 0; }, 5s));
  EXPECT_EQ(trigger_sample(triggerd.admin_port(), "triggerd_source_up", "named"), 1.0);
}

TEST(RedisStreamConfig, ValidateWarnsWhenClaimIdleIsShorterThanOneEventCanTake) {
  // One event: 3 attempts of up to 5 s (the function's timeout) and backoff ceilings of 1 s
  // and 2 s between them: 18 s. A claim_idle of 10 s is shorter; 30 s is not.
  const Lines delivery{"retries: 2", "backoff: {delay: 1s, max: 2s}"};
  TempFile config(redis_config(6379, "http://127.0.0.1:9/fn",
                               stream_trigger("short", {"claim_idle: 10s"}, delivery) +
                                   stream_trigger("long", {"claim_idle: 30s"}, delivery) +
                                   stream_trigger("defaulted", {}, delivery)));
  const RunResult result = run_process(triggerd_binary(), {"validate", "-c", config.path()});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("warning: triggers.short.source.claim_idle: claim_idle (10s) is "
                            "shorter than the longest time one event can take (18s: 3 attempts "
                            "of up to 5s plus the backoff between them)"),
            std::string::npos)
      << result.err;
  EXPECT_EQ(result.err.find("triggers.long.source"), std::string::npos) << result.err;
  // The default claim_idle (60s) is long enough for this delivery policy.
  EXPECT_EQ(result.err.find("triggers.defaulted.source"), std::string::npos) << result.err;
}

// --- The read-ahead --------------------------------------------------------------------------
// The source keeps up to min(count, max_inflight) entries read from Redis but not yet started,
// so that a slot the function frees gets its next entry without waiting for an XREADGROUP.

using RedisStreamReadAhead = RedisTest;

TEST_F(RedisStreamReadAhead, HoldsAtMostMaxInflightPlusCountEntriesPending) {
  function.always(StubStep::respond(200).with_delay(150ms));
  constexpr int kEntries = 80;
  constexpr long long kMaxInflight = 6;
  constexpr long long kCount = 4;  // below max_inflight: the read-ahead holds `count` entries
  add_entries(redis, "ahead", 0, kEntries);
  TriggerdProcess triggerd(
      config_for(stream_trigger("ahead", {"count: 4"}, {"max_inflight: 6"})));
  // While the function works through the backlog, the group's pending list holds what is in
  // flight plus the read-ahead: never more than max_inflight + min(count, max_inflight), and
  // most of the time more than max_inflight (the read-ahead is read again once it is down to
  // half, so it holds between 2 and 4 entries but for the moment a read is under way).
  std::vector<long long> samples;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (function.request_count() < static_cast<std::uint64_t>(kEntries) - 12 &&
         std::chrono::steady_clock::now() < deadline) {
    const long long now_pending = pending(redis, "ahead");
    ASSERT_LE(now_pending, kMaxInflight + kCount);
    if (function.request_count() >= 6) samples.push_back(now_pending);
    ASSERT_LE(function.current_concurrent(), kMaxInflight);
    std::this_thread::sleep_for(3ms);
  }
  ASSERT_GT(samples.size(), 100u);
  std::sort(samples.begin(), samples.end());
  EXPECT_GE(samples[samples.size() / 2], kMaxInflight + kCount / 2)
      << "median of " << samples.size() << " samples; lowest " << samples.front();
  EXPECT_EQ(samples.back(), kMaxInflight + kCount);
  ASSERT_TRUE(function.wait_for_requests(kEntries, 20s)) << function.request_count();
  ASSERT_TRUE(wait_until([&] { return pending(redis, "ahead") == 0; }, 5s))
      << pending(redis, "ahead");
  std::this_thread::sleep_for(200ms);  // a duplicate would show up now
  EXPECT_EQ(function.request_count(), static_cast<std::uint64_t>(kEntries));
  EXPECT_EQ(function.max_concurrent(), kMaxInflight);
}

TEST_F(RedisStreamReadAhead, BacklogIsEveryUnfinishedEntryWhileItDrains) {
  function.always(StubStep::respond(200).with_delay(100ms));
  constexpr std::int64_t kEntries = 150;
  add_entries(redis, "drains", 0, static_cast<int>(kEntries));
  TriggerdProcess triggerd(
      config_for(stream_trigger("drains", {"count: 10"}, {"max_inflight: 5"})));
  ASSERT_TRUE(reports_backlog(triggerd.admin_port(), "drains", kEntries))
      << boost::json::serialize(trigger_info(triggerd.admin_port(), "drains"));
  // backlog = queue_depth + inflight counts every entry not finished, once: the entries in
  // the group's lag, those read ahead and those in flight. Checked on every answer of the
  // admin API (what KEDA reads) and every scrape of /metrics while the backlog drains.
  int samples = 0;
  std::int64_t delivered = 0;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (delivered < kEntries && std::chrono::steady_clock::now() < deadline) {
    const auto info = trigger_info(triggerd.admin_port(), "drains");
    ASSERT_TRUE(info.is_object());
    const auto& object = info.as_object();
    delivered = object.at("delivered").as_int64();
    const std::int64_t depth = object.at("queue_depth").as_int64();
    const std::int64_t inflight = object.at("inflight").as_int64();
    const std::int64_t backlog = object.at("backlog").as_int64();
    ASSERT_EQ(backlog, depth + inflight);
    ASSERT_EQ(backlog, kEntries - delivered)
        << "queue_depth " << depth << ", inflight " << inflight << ", delivered " << delivered;
    ASSERT_LE(inflight, 5);
    ASSERT_GE(depth, 0);
    ++samples;

    const HttpResponse metrics = http_get(triggerd.admin_port(), "/metrics");
    ASSERT_EQ(metrics.status, 200);
    const auto m_depth = sample_in(metrics.body, "triggerd_queue_depth", "drains");
    const auto m_inflight = sample_in(metrics.body, "triggerd_inflight_events", "drains");
    const auto m_delivered = sample_in(metrics.body, "triggerd_events_delivered_total", "drains");
    ASSERT_TRUE(m_depth && m_inflight && m_delivered);
    ASSERT_EQ(*m_depth + *m_inflight, static_cast<double>(kEntries) - *m_delivered)
        << "triggerd_queue_depth " << *m_depth << ", triggerd_inflight_events " << *m_inflight;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(delivered, kEntries);
  EXPECT_GT(samples, 50);
  EXPECT_TRUE(reports_backlog(triggerd.admin_port(), "drains", 0));
  EXPECT_EQ(function.request_count(), static_cast<std::uint64_t>(kEntries));
}

TEST_F(RedisStreamReadAhead, StartsEntriesInStreamOrderWithMaxInflightOne) {
  function.always(StubStep::respond(200).with_delay(5ms));
  constexpr int kEntries = 200;
  add_entries(redis, "ordered", 0, kEntries);
  TriggerdProcess triggerd(config_for(stream_trigger("ordered", {}, {"max_inflight: 1"})));
  ASSERT_TRUE(function.wait_for_requests(kEntries, 30s)) << function.request_count();
  ASSERT_TRUE(wait_until([&] { return pending(redis, "ordered") == 0; }, 5s));
  const auto requests = function.requests();
  ASSERT_EQ(requests.size(), static_cast<std::size_t>(kEntries));
  for (int i = 0; i < kEntries; ++i) {
    ASSERT_EQ(requests[static_cast<std::size_t>(i)].body, "entry-" + std::to_string(i));
  }
  EXPECT_EQ(function.max_concurrent(), 1);
}

}  // namespace
}  // namespace triggerd::testing
