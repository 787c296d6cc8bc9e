// backlog_total, the trigger's whole unfinished work as its queue sees it, through the real
// binary: two replicas on one Redis stream, one Redis list and one Kafka group each report
// what the test reads from the queue itself (docs/metrics.md, docs/kafka.md, docs/redis.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/end_to_end.hpp"
#include "tests/integration/redis_test_helpers.hpp"
#include "tests/support/kafka_cluster.hpp"

namespace triggerd::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The figures are refreshed every second; on a loaded machine a refresh may come late, so a
// figure may be this old before a test calls it stale.
constexpr auto kStale = 2500ms;
// Events each replica holds at most (small, so that most of the backlog waits in the queue).
constexpr std::int64_t kMaxInflight = 4;
// The function while the figures are watched moving: slow enough that the backlog lasts.
constexpr auto kSlow = 200ms;

std::optional<std::int64_t> field_of(std::uint16_t admin_port, const std::string& trigger,
                                     const char* field) {
  const boost::json::value info = trigger_info(admin_port, trigger);
  if (!info.is_object() || !info.as_object().contains(field)) return std::nullopt;
  return info.as_object().at(field).to_number<std::int64_t>();
}

// What a replica's admin API says, as KEDA reads it.
std::optional<std::int64_t> backlog_total(std::uint16_t admin_port, const std::string& trigger) {
  return field_of(admin_port, trigger, "backlog_total");
}
// The replica's own backlog: its queue depth and its events in flight.
std::optional<std::int64_t> own_backlog(std::uint16_t admin_port, const std::string& trigger) {
  return field_of(admin_port, trigger, "backlog");
}

// The queue a test watches: its unfinished work read from the queue itself, and a way to add
// events to it.
struct Queue {
  std::function<std::int64_t()> truth;
  std::function<void(int count)> add;
};

// While nothing is added, a queue's unfinished work only shrinks (events finish, none come). So
// a figure read from the queue a moment ago is at least what the queue holds now, and, if it is
// at most kStale old, at most what it held kStale ago — plus the events taken since on that
// replica, which its own backlog may count twice until the next refresh of its depth (that
// backlog is the floor of backlog_total). Watched for `duration` on every replica.
void expect_follows_the_queue(const std::vector<std::uint16_t>& replicas,
                              const std::string& trigger, const Queue& queue,
                              std::chrono::milliseconds duration) {
  struct Reading {
    Clock::time_point at;
    std::int64_t truth;
  };
  std::deque<Reading> history;
  const auto start = Clock::now();
  const std::int64_t first = queue.truth();
  std::size_t upper_checks = 0;
  while (Clock::now() - start < duration) {
    history.push_back({Clock::now(), queue.truth()});
    for (const std::uint16_t replica : replicas) {
      const auto read_at = Clock::now();
      const std::optional<std::int64_t> figure = backlog_total(replica, trigger);
      const std::int64_t now = queue.truth();
      ASSERT_TRUE(figure) << "replica on " << replica;
      EXPECT_GE(*figure, now) << "replica on " << replica << " reports less than the queue holds";
      // The newest reading taken at least kStale before this figure was.
      const Reading* old = nullptr;
      for (const Reading& reading : history) {
        if (reading.at <= read_at - kStale) old = &reading;
      }
      if (old != nullptr) {
        ++upper_checks;
        EXPECT_LE(*figure, old->truth + kMaxInflight)
            << "replica on " << replica << " reports what the queue held more than "
            << std::chrono::duration_cast<std::chrono::milliseconds>(kStale).count() << " ms ago";
      }
    }
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_GT(upper_checks, 5u);
  // The backlog moved meanwhile: the figures were watched following it, not standing still.
  EXPECT_LT(queue.truth(), first - 20) << "the queue did not drain while watched";
}

// The queue's figure once it has held still for a second (the function frozen); nothing if it
// does not settle within 15 s.
std::optional<std::int64_t> settled(const Queue& queue) {
  const auto deadline = Clock::now() + 15s;
  std::int64_t last = queue.truth();
  auto since = Clock::now();
  while (Clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
    const std::int64_t now = queue.truth();
    if (now != last) {
      last = now;
      since = Clock::now();
    } else if (Clock::now() - since >= 1s) {
      return last;
    }
  }
  return std::nullopt;
}

bool all_report(const std::vector<std::uint16_t>& replicas, const std::string& trigger,
                std::int64_t expected) {
  for (const std::uint16_t replica : replicas) {
    if (backlog_total(replica, trigger) != expected) return false;
  }
  return true;
}

std::string reports(const std::vector<std::uint16_t>& replicas, const std::string& trigger) {
  std::string text;
  for (const std::uint16_t replica : replicas) {
    text += " replica on " + std::to_string(replica) + ": " +
            boost::json::serialize(trigger_info(replica, trigger));
  }
  return text;
}

// The whole story on replicas that are taking from `queue` with the function answering after
// kSlow: the figures follow the draining queue; frozen (the function hangs) every replica
// reports exactly what the queue holds, more than its own backlog; events added then show on
// every replica within a refresh; and once the function answers again, all of it drains and
// every replica reports 0.
void expect_every_replica_reports_the_queue(FunctionStub& function,
                                            const std::vector<std::uint16_t>& replicas,
                                            const std::string& trigger, const Queue& queue) {
  {
    SCOPED_TRACE("draining");
    expect_follows_the_queue(replicas, trigger, queue, 5s);
  }
  function.always(StubStep::hang());
  const std::optional<std::int64_t> frozen = settled(queue);
  ASSERT_TRUE(frozen) << "the queue did not hold still with the function frozen";
  ASSERT_GT(*frozen, 0);
  EXPECT_TRUE(wait_until([&] { return all_report(replicas, trigger, *frozen); }, 5s))
      << "expected " << *frozen << ";" << reports(replicas, trigger);
  for (const std::uint16_t replica : replicas) {
    // Each replica sees the other's share too.
    EXPECT_LT(own_backlog(replica, trigger).value_or(*frozen), *frozen)
        << reports(replicas, trigger);
  }

  constexpr int kAdded = 25;
  queue.add(kAdded);
  ASSERT_EQ(queue.truth(), *frozen + kAdded) << "the frozen replicas took something";
  const auto added_at = Clock::now();
  ASSERT_TRUE(wait_until([&] { return all_report(replicas, trigger, *frozen + kAdded); }, 10s))
      << "expected " << *frozen + kAdded << ";" << reports(replicas, trigger);
  EXPECT_LE(Clock::now() - added_at, kStale) << "the figures took longer than a refresh";

  // Answered again: the hung attempts time out (5 s) and are retried.
  function.always(200);
  EXPECT_TRUE(wait_until([&] { return queue.truth() == 0; }, 60s)) << queue.truth();
  EXPECT_TRUE(wait_until([&] { return all_report(replicas, trigger, 0); }, 5s))
      << reports(replicas, trigger);
}

// ---- Redis ------------------------------------------------------------------------------------

using BacklogTotal = RedisTest;

// The integer fields of the group `triggerd` of `stream`, all from one XINFO GROUPS (so that
// an entry read meanwhile is not counted both as lag and as pending); a nil lag is absent.
std::map<std::string, long long> group_fields(RedisTestClient& redis, const std::string& stream) {
  std::map<std::string, long long> fields;
  ReplyPtr groups = redis.command({"XINFO", "GROUPS", stream});
  if (groups->type != REDIS_REPLY_ARRAY || groups->elements == 0) return fields;
  const redisReply& group = *groups->element[0];
  for (std::size_t i = 0; i + 1 < group.elements; i += 2) {
    const redisReply& value = *group.element[i + 1];
    if (value.type == REDIS_REPLY_INTEGER) fields[group.element[i]->str] = value.integer;
  }
  return fields;
}

// Items in `list` and in every processing list of it, counted by Redis in one step (so that an
// item moved meanwhile is not counted twice or missed). Found by key name, not through the
// consumers set triggerd keeps.
long long list_items(RedisTestClient& redis, const std::string& list) {
  return redis.integer(
      {"EVAL",
       "local n = redis.call('LLEN', KEYS[1]) "
       "for _, key in ipairs(redis.call('KEYS', ARGV[1])) do n = n + redis.call('LLEN', key) end "
       "return n",
       "1", list, list + ":processing:*"});
}

TEST_F(BacklogTotal, TwoReplicasOfARedisStreamBothReportTheGroupsLagPlusPending) {
  add_entries(redis, "jobs", 0, 400);
  function.always(StubStep::respond(200).with_delay(kSlow));
  const Lines delivery{"max_inflight: " + std::to_string(kMaxInflight)};
  TriggerdProcess first(config_for(stream_trigger("jobs", {"consumer: c1"}, delivery)));
  TriggerdProcess second(config_for(stream_trigger("jobs", {"consumer: c2"}, delivery)));
  // Both are taking.
  ASSERT_TRUE(wait_until(
      [&] {
        return trigger_sample(first.admin_port(), "triggerd_inflight_events", "jobs") > 0 &&
               trigger_sample(second.admin_port(), "triggerd_inflight_events", "jobs") > 0;
      },
      10s));
  const Queue queue{.truth =
                        [&] {
                          auto fields = group_fields(redis, "jobs");
                          return fields.at("lag") + fields.at("pending");
                        },
                    .add = [&](int count) { add_entries(redis, "jobs", 1000, count); }};
  expect_every_replica_reports_the_queue(function, {first.admin_port(), second.admin_port()},
                                         "jobs", queue);
}

TEST_F(BacklogTotal, TwoReplicasOfARedisListBothReportTheListAndEveryProcessingList) {
  push_items(redis, "tasks", 0, 400);
  function.always(StubStep::respond(200).with_delay(kSlow));
  const Lines delivery{"max_inflight: " + std::to_string(kMaxInflight)};
  TriggerdProcess first(config_for(list_trigger("tasks", {"consumer: c1"}, delivery)));
  TriggerdProcess second(config_for(list_trigger("tasks", {"consumer: c2"}, delivery)));
  ASSERT_TRUE(wait_until(
      [&] {
        return redis.integer({"LLEN", "tasks:processing:c1"}) > 0 &&
               redis.integer({"LLEN", "tasks:processing:c2"}) > 0;
      },
      10s));
  const Queue queue{.truth = [&] { return list_items(redis, "tasks"); },
                    .add = [&](int count) { push_items(redis, "tasks", 1000, count); }};
  expect_every_replica_reports_the_queue(function, {first.admin_port(), second.admin_port()},
                                         "tasks", queue);
}

TEST_F(BacklogTotal, AStreamWhoseLagRedisCannotTellIsCountedFromAboveNeverBelow) {
  add_entries(redis, "gaps", 0, 50);
  function.always(StubStep::hang());
  TriggerdProcess triggerd(config_for(
      stream_trigger("gaps", {"consumer: c1"}, {"max_inflight: " + std::to_string(kMaxInflight)})));
  // Frozen: in flight and read ahead, kMaxInflight each, pending in the group.
  ASSERT_TRUE(wait_until([&] { return pending(redis, "gaps") == 2 * kMaxInflight; }, 10s));
  EXPECT_TRUE(wait_until([&] { return backlog_total(triggerd.admin_port(), "gaps") == 50; }, 5s))
      << boost::json::serialize(trigger_info(triggerd.admin_port(), "gaps"));

  // An entry the group has not read yet is deleted: Redis no longer counts the lag (nil).
  ReplyPtr unread = redis.command({"XREVRANGE", "gaps", "+", "-", "COUNT", "1"});
  ASSERT_EQ(unread->type, REDIS_REPLY_ARRAY);
  redis.command({"XDEL", "gaps", unread->element[0]->element[0]->str});
  add_entries(redis, "gaps", 100, 10);
  ASSERT_EQ(group_lag(redis, "gaps"), -1) << "Redis counts the lag after all";
  // 59 entries wait or are pending; triggerd counts what was added less what the group read
  // (the deleted entry too) plus pending: 60, never fewer than there are.
  auto fields = group_fields(redis, "gaps");
  const long long bound = 60 - fields.at("entries-read") + fields.at("pending");
  EXPECT_EQ(bound, 60);
  EXPECT_TRUE(wait_until([&] { return backlog_total(triggerd.admin_port(), "gaps") == bound; }, 5s))
      << boost::json::serialize(trigger_info(triggerd.admin_port(), "gaps"));
  EXPECT_EQ(count_lines(triggerd.process().err(), "Redis cannot tell the lag"), 1u)
      << triggerd.process().err();

  // Read past the deleted entry, the group's lag is known again, and exact.
  function.always(200);
  EXPECT_TRUE(wait_until(
      [&] { return group_lag(redis, "gaps") == 0 && pending(redis, "gaps") == 0; }, 30s));
  EXPECT_TRUE(wait_until([&] { return backlog_total(triggerd.admin_port(), "gaps") == 0; }, 5s))
      << boost::json::serialize(trigger_info(triggerd.admin_port(), "gaps"));
}

// ---- Kafka ------------------------------------------------------------------------------------

// A config of one trigger `name` reading `topic` as `group` from `start` on the mock cluster,
// with a short session (the mock cluster's rebalances wait about one).
std::string kafka_trigger_config(const std::string& bootstrap, const FunctionStub& function,
                                 const std::string& name, const std::string& group,
                                 std::int64_t max_inflight) {
  return "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  shutdown_timeout: 2s\n"
         "connections:\n  main:\n    type: kafka\n    brokers: \"" +
         bootstrap +
         "\"\n    options:\n      session.timeout.ms: \"6000\"\n"
         "functions:\n  fn:\n    url: " +
         function.url("/fn") +
         "\n    timeout: 5s\n"
         "triggers:\n  " +
         name + ":\n    function: fn\n    source: {type: kafka, connection: main, topic: " + name +
         ", group: " + group +
         ", start: earliest}\n    delivery: {max_inflight: " + std::to_string(max_inflight) + "}\n";
}

// Σ over the partitions of (high watermark − the group's committed offset, or the low watermark
// where it has none): the group's backlog as Kafka holds it.
std::int64_t kafka_backlog(KafkaGroupView& view, const std::string& topic, int partitions) {
  const std::vector<std::int64_t> committed = view.committed(topic, partitions);
  const auto marks = view.watermarks(topic, partitions);
  std::int64_t total = 0;
  for (std::size_t p = 0; p < marks.size(); ++p) {
    const auto [low, high] = marks[p];
    total += high - (committed[p] >= 0 ? committed[p] : low);
  }
  return total;
}

TEST(BacklogTotalKafka, TwoReplicasInOneGroupBothReportEveryPartitionsHighWatermarkLessCommitted) {
  FunctionStub function;
  KafkaCluster cluster({{"orders", 4}});
  cluster.produce_spread("orders", 4, 400);
  function.always(StubStep::respond(200).with_delay(kSlow));
  TempFile config(
      kafka_trigger_config(cluster.bootstrap(), function, "orders", "g-orders", kMaxInflight));
  TriggerdProcess first(config.path());
  TriggerdProcess second(config.path());
  ASSERT_TRUE(wait_until(
      [&] {
        return log_has(first, "assigned 2 partitions") && log_has(second, "assigned 2 partitions");
      },
      30s))
      << first.process().err() << second.process().err();
  KafkaGroupView view(cluster.bootstrap(), "g-orders");
  const Queue queue{.truth = [&] { return kafka_backlog(view, "orders", 4); },
                    .add = [&](int count) { cluster.produce_spread("orders", 4, count, "more"); }};
  expect_every_replica_reports_the_queue(function, {first.admin_port(), second.admin_port()},
                                         "orders", queue);
}

TEST(BacklogTotalKafka, AGroupWithNothingCommittedCountsEveryPartitionFromItsLowWatermark) {
  FunctionStub function;
  function.always(StubStep::hang());
  KafkaCluster cluster({{"fresh", 3}});
  cluster.produce_spread("fresh", 3, 30);
  // Another member of the group, not triggerd, holds some of the partitions and commits nothing:
  // one replica of triggerd sees only its own share of the backlog.
  KafkaGroupMember other(cluster.bootstrap(), "g-fresh", "fresh");
  ASSERT_TRUE(wait_until([&] { return other.assigned().size() == 3; }, 30s));
  // One event at a time, hung: nothing of triggerd's partitions is finished or committed either.
  TempFile config(kafka_trigger_config(cluster.bootstrap(), function, "fresh", "g-fresh", 1));
  TriggerdProcess triggerd(config.path());
  ASSERT_TRUE(wait_until(
      [&] {
        return log_has(triggerd, "assigned ") && !other.assigned().empty() &&
               other.assigned().size() < 3;
      },
      30s))
      << triggerd.process().err();

  KafkaGroupView view(cluster.bootstrap(), "g-fresh");
  const std::vector<std::int64_t> committed = view.committed("fresh", 3);
  EXPECT_GE(std::count(committed.begin(), committed.end(), -1), 2) << "the group committed";
  EXPECT_EQ(kafka_backlog(view, "fresh", 3), 30);
  EXPECT_TRUE(wait_until([&] { return backlog_total(triggerd.admin_port(), "fresh") == 30; }, 5s))
      << boost::json::serialize(trigger_info(triggerd.admin_port(), "fresh"));
  EXPECT_LT(own_backlog(triggerd.admin_port(), "fresh").value_or(30), 30);
  EXPECT_EQ(trigger_sample(triggerd.admin_port(), "triggerd_backlog_total", "fresh"), 30.0);
}

}  // namespace
}  // namespace triggerd::testing
