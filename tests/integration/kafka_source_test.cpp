// The kafka source through the real binary, against the mock Kafka cluster and a function
// stub (SPEC sections 2, 3, 5 and 6).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/function_stub/function_stub.hpp"
#include "tests/integration/redis_test_helpers.hpp"
#include "tests/support/kafka_cluster.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_file.hpp"
#include "tests/support/triggerd_process.hpp"

namespace triggerd::testing {
namespace {

using namespace std::chrono_literals;

// A whole config: kafka connection `main` at `bootstrap`, function `fn`, one trigger `name`
// reading `topic` as group `group`.
std::string kafka_config(const std::string& bootstrap, const std::string& function_url,
                         const std::string& name, const std::string& topic,
                         const std::string& group, const std::string& delivery = "",
                         const std::string& options = "") {
  return "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  shutdown_timeout: 2s\n"
         "log:\n  level: info\n"
         "connections:\n  main:\n    type: kafka\n" +
         (options.empty() ? "" : "    options:\n" + options) + "    brokers: \"" + bootstrap +
         "\"\nfunctions:\n  fn:\n    url: " + function_url +
         "\n    timeout: 5s\n    max_concurrency: 200\n"
         "triggers:\n  " +
         name + ":\n    function: fn\n    source:\n      type: kafka\n      connection: main\n" +
         "      topic: " + topic + "\n      group: " + group + "\n      start: earliest\n" +
         (delivery.empty() ? "" : "    delivery:\n" + delivery);
}

StubStep respond_after(int status, std::chrono::milliseconds delay) {
  StubStep step;
  step.status = status;
  step.delay = delay;
  return step;
}

// Messages committed over all partitions. A partition that never had a message has no
// committed offset (-1): kcat's sticky partitioner may put all its lines in one partition.
std::int64_t sum_committed(const std::vector<std::int64_t>& offsets) {
  std::int64_t total = 0;
  for (const std::int64_t offset : offsets) total += std::max<std::int64_t>(0, offset);
  return total;
}

TEST(KafkaSource, DeliversEveryMessageOverEightPartitionsAndCommitsToTheEnd) {
  KafkaCluster cluster({{"orders", 8}});
  FunctionStub function;
  constexpr int kMessages = 20000;
  cluster.produce_spread("orders", 8, kMessages);
  TempFile config(
      kafka_config(cluster.bootstrap(), function.url("/fn"), "orders", "orders", "g-orders"));
  TriggerdProcess triggerd(config.path());

  ASSERT_TRUE(function.wait_for_requests(kMessages, 60s))
      << function.request_count() << triggerd.process().err();
  const std::vector<std::int64_t> ends = cluster.end_offsets("orders", 8);
  EXPECT_TRUE(wait_until([&] { return cluster.committed("g-orders", "orders", 8) == ends; }, 10s));
  const auto requests = function.requests();
  EXPECT_EQ(requests.size(), static_cast<std::size_t>(kMessages));
  std::set<std::string> ids;
  for (const auto& request : requests) ids.insert(request.header("ce-id"));
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kMessages));
  EXPECT_EQ(requests.front().header("ce-type"), "dev.triggerd.kafka.message");
  EXPECT_EQ(requests.front().header("ce-source"), "kafka://main/orders");
  EXPECT_TRUE(wait_until(
      [&] {
        return trigger_sample(triggerd.admin_port(), "triggerd_queue_depth", "orders") == 0.0 &&
               trigger_sample(triggerd.admin_port(), "triggerd_inflight_events", "orders") == 0.0;
      },
      10s));
  EXPECT_EQ(trigger_sample(triggerd.admin_port(), "triggerd_source_up", "orders"), 1.0);
}

TEST(KafkaSource, TakesMessagesFromKcatWithKeyAndHeaders) {
  KafkaCluster cluster({{"events", 2}});
  FunctionStub function;
  TempFile config(
      kafka_config(cluster.bootstrap(), function.url("/fn"), "events", "events", "g-events"));
  TriggerdProcess triggerd(config.path());
  cluster.produce_with_kcat("events", {"one", "two", "three"});
  cluster.produce("events", {KafkaMessage{"customer-7",
                                          R"({"a":1})",
                                          {{"content-type", "application/json"},
                                           {"traceparent",
                                            "00-0af7651916cd43dd8448eb211c80319c-"
                                            "b7ad6b7169203331-01"}},
                                          1}});
  ASSERT_TRUE(function.wait_for_requests(4, 20s))
      << function.request_count() << triggerd.process().err();
  std::set<std::string> bodies;
  for (const auto& request : function.requests()) {
    bodies.insert(request.body);
    if (request.body != R"({"a":1})") continue;
    EXPECT_EQ(request.header("ce-subject"), "customer-7");
    EXPECT_EQ(request.header("content-type"), "application/json");
    EXPECT_EQ(request.header("traceparent"),
              "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    EXPECT_EQ(request.header("ce-id").rfind("events-1-", 0), 0u) << request.header("ce-id");
  }
  EXPECT_EQ(bodies, (std::set<std::string>{"one", "two", "three", R"({"a":1})"}));
  EXPECT_TRUE(
      wait_until([&] { return sum_committed(cluster.committed("g-events", "events", 2)) == 4; }, 10s))
      << triggerd.process().err();
}

TEST(KafkaSource, PartitionOrderingKeepsOffsetsIncreasingPerPartition) {
  KafkaCluster cluster({{"seq", 4}});
  FunctionStub function;
  function.always(200, 1ms);
  constexpr int kMessages = 400;
  cluster.produce_spread("seq", 4, kMessages);
  TempFile config(kafka_config(cluster.bootstrap(), function.url("/fn"), "seq", "seq", "g-seq",
                               "      ordering: partition\n      max_inflight: 50\n"));
  TriggerdProcess triggerd(config.path());
  ASSERT_TRUE(function.wait_for_requests(kMessages, 30s))
      << function.request_count() << triggerd.process().err();
  std::map<std::string, long long> last;
  for (const auto& request : function.requests()) {
    const std::string id = request.header("ce-id");  // seq-PARTITION-OFFSET
    const auto dash = id.rfind('-');
    const std::string partition = id.substr(0, dash);
    const long long offset = std::stoll(id.substr(dash + 1));
    if (last.contains(partition)) {
      EXPECT_GT(offset, last[partition]) << id;
    }
    last[partition] = offset;
  }
}

TEST(KafkaSource, FunctionDownPausesStaysInTheGroupAndDrainsWhenItIsBack) {
  KafkaCluster cluster({{"down", 4}});
  FunctionStub function;
  function.always(503);
  // More than the source buffers (10 000 messages), so that it must pause its partitions.
  constexpr int kMessages = 12000;
  cluster.produce_spread("down", 4, kMessages);
  TempFile config(kafka_config(cluster.bootstrap(), function.url("/fn"), "down", "down", "g-down",
                               "      max_inflight: 50\n      retries: 1000\n"
                               "      backoff: {policy: constant, delay: 200ms, max: 200ms}\n",
                               // A member that stopped polling would be out after 7 s.
                               "      session.timeout.ms: \"6000\"\n"
                               "      max.poll.interval.ms: \"7000\"\n"));
  TriggerdProcess triggerd(config.path());
  auto sample = [&](const std::string& name) {
    return trigger_sample(triggerd.admin_port(), name, "down").value_or(-1);
  };
  // Every message is counted: waiting at the source or in flight, never more than 50 taken.
  EXPECT_TRUE(wait_until(
      [&] {
        return sample("triggerd_inflight_events") == 50.0 &&
               sample("triggerd_queue_depth") + sample("triggerd_inflight_events") == kMessages;
      },
      15s))
      << sample("triggerd_queue_depth") << " " << sample("triggerd_inflight_events");
  EXPECT_TRUE(wait_until(
      [&] { return triggerd.process().err().find("paused 4 partitions") != std::string::npos; },
      10s));
  // Longer than max.poll.interval.ms: the member polls on while paused and keeps its
  // partitions.
  std::this_thread::sleep_for(8s);
  EXPECT_EQ(triggerd.process().err().find("revoked"), std::string::npos)
      << triggerd.process().err();
  EXPECT_EQ(sample("triggerd_source_up"), 1.0);
  EXPECT_EQ(sample("triggerd_queue_depth") + sample("triggerd_inflight_events"), kMessages);

  function.always(200);
  EXPECT_TRUE(wait_until(
      [&] {
        return sample("triggerd_queue_depth") == 0.0 && sample("triggerd_inflight_events") == 0.0;
      },
      30s))
      << sample("triggerd_queue_depth") << " " << sample("triggerd_inflight_events");
  EXPECT_NE(triggerd.process().err().find("resumed 4 partitions"), std::string::npos);
  const std::vector<std::int64_t> ends = cluster.end_offsets("down", 4);
  EXPECT_TRUE(wait_until([&] { return cluster.committed("g-down", "down", 4) == ends; }, 10s));
}

TEST(KafkaSource, SigtermCommitsWhatFinishedAndExitsZero) {
  KafkaCluster cluster({{"drain", 2}});
  FunctionStub function;
  cluster.produce_spread("drain", 2, 100);
  TempFile config(
      kafka_config(cluster.bootstrap(), function.url("/fn"), "drain", "drain", "g-drain"));
  TriggerdProcess triggerd(config.path());
  ASSERT_TRUE(function.wait_for_requests(100, 20s)) << function.request_count();
  // All finished before the signal: events still in flight at a drain may finish after the
  // last commit, and are then delivered again (at least once), which this test does not check.
  ASSERT_TRUE(wait_until(
      [&] {
        return trigger_sample(triggerd.admin_port(), "triggerd_inflight_events", "drain") == 0.0;
      },
      10s));
  triggerd.process().send_signal(SIGTERM);
  EXPECT_EQ(triggerd.process().wait_for_exit(10s), 0) << triggerd.process().err();
  EXPECT_EQ(cluster.committed("g-drain", "drain", 2), (std::vector<std::int64_t>{50, 50}));
}


// Waits (up to 60 s) until the function has seen `count` distinct ce-ids; `seen` gets how
// often each arrived.
bool wait_for_distinct_ids(const FunctionStub& function, int count,
                           std::map<std::string, int>& seen) {
  return wait_until(
      [&] {
        seen.clear();
        for (const auto& request : function.requests()) ++seen[request.header("ce-id")];
        return seen.size() == static_cast<std::size_t>(count);
      },
      std::chrono::seconds(60));
}

// Splits "TOPIC-PARTITION-OFFSET" (ce-id) into ("TOPIC-PARTITION", OFFSET).
std::pair<std::string, long long> split_id(const std::string& id) {
  const auto dash = id.rfind('-');
  return {id.substr(0, dash), std::stoll(id.substr(dash + 1))};
}

TEST(KafkaSource, KillNineAndRestartLosesNothingAndRepeatsAtMostMaxInflight) {
  KafkaCluster cluster({{"crash", 4}});
  FunctionStub function;
  // The very first event hangs (as a stuck call would): its partition's committed offset
  // cannot pass it, and everything finished after it in that partition must still not come
  // again after the crash.
  function.enqueue(respond_after(200, 30s));
  function.always(200, 5ms);
  constexpr int kMessages = 4000;
  constexpr int kMaxInflight = 40;
  cluster.produce_spread("crash", 4, kMessages);
  TempFile config(kafka_config(cluster.bootstrap(), function.url("/fn"), "crash", "crash",
                               "g-crash", "      max_inflight: 40\n",
                               // The killed member leaves the group only when its session
                               // times out: short, so that the restart takes over soon.
                               "      session.timeout.ms: \"6000\"\n"));
  {
    TriggerdProcess first(config.path());
    ASSERT_TRUE(function.wait_for_requests(kMessages / 2, 30s))
        << function.request_count() << first.process().err();
    first.process().send_signal(SIGKILL);
    first.process().wait_for_exit(10s);
  }
  const std::uint64_t before_restart = function.request_count();
  TriggerdProcess second(config.path());
  std::map<std::string, int> seen;
  ASSERT_TRUE(wait_for_distinct_ids(function, kMessages, seen))
      << seen.size() << " distinct of " << kMessages << "\n"
      << second.process().err();
  const std::vector<std::int64_t> ends = cluster.end_offsets("crash", 4);
  EXPECT_TRUE(wait_until([&] { return cluster.committed("g-crash", "crash", 4) == ends; }, 15s));
  const std::size_t total = function.requests().size();
  const std::size_t repeated = total - static_cast<std::size_t>(kMessages);
  EXPECT_LE(repeated, static_cast<std::size_t>(kMaxInflight))
      << "delivered before the crash: " << before_restart << ", in all: " << total;
  // The hung event was in flight at the crash: it is among those delivered again.
  const std::string first_id = function.requests().front().header("ce-id");
  EXPECT_EQ(seen[first_id], 2) << first_id;
}

TEST(KafkaSource, KeyOrderingKeepsEachKeyInOrderAndASlowKeyHoldsUpOnlyItself) {
  KafkaCluster cluster({{"keys", 1}});
  FunctionStub function;
  function.enqueue(respond_after(200, 3s));  // the first message of key "slow"
  TempFile config(kafka_config(cluster.bootstrap(), function.url("/fn"), "keys", "keys",
                               "g-keys", "      ordering: key\n      max_inflight: 20\n"));
  TriggerdProcess triggerd(config.path());
  cluster.produce("keys", {KafkaMessage{"slow", "slow-0", {}, 0}});
  ASSERT_TRUE(function.wait_for_requests(1, 20s)) << triggerd.process().err();
  std::vector<KafkaMessage> rest;
  for (int i = 0; i < 60; ++i) {
    const std::string key = i % 10 == 0 ? "slow" : "k" + std::to_string(i % 3);
    rest.push_back(KafkaMessage{key, key + "-" + std::to_string(i), {}, 0});
  }
  cluster.produce("keys", rest);
  // Keys k0..k2 (54 messages) flow while "slow" waits for its first answer.
  ASSERT_TRUE(function.wait_for_requests(55, 2500ms)) << function.request_count();
  const auto early = function.requests();
  for (std::size_t i = 1; i < early.size(); ++i) {
    EXPECT_NE(early[i].header("ce-subject"), "slow") << early[i].body;
  }
  ASSERT_TRUE(function.wait_for_requests(61, 20s)) << function.request_count();
  const auto requests = function.requests();
  std::map<std::string, long long> last;
  for (const auto& request : requests) {
    const std::string key = request.header("ce-subject");
    const long long offset = split_id(request.header("ce-id")).second;
    if (last.contains(key)) {
      EXPECT_GT(offset, last[key]) << key;
    }
    last[key] = offset;
  }
  // The second "slow" message went out only after the first was answered.
  const auto second_slow = std::find_if(requests.begin() + 1, requests.end(), [](const auto& r) {
    return r.header("ce-subject") == "slow";
  });
  ASSERT_NE(second_slow, requests.end());
  EXPECT_GE(second_slow->received_steady - requests.front().received_steady, 3s);
  EXPECT_TRUE(wait_until([&] { return cluster.committed("g-keys", "keys", 1)[0] == 61; }, 10s));
}

TEST(KafkaSource, APoisonMessageGoesToTheDeadLetterTopicAndTheRestIsDelivered) {
  KafkaCluster cluster({{"payments", 1}, {"payments-dlq", 1}});
  FunctionStub function;
  TempFile config(kafka_config(
      cluster.bootstrap(), function.url("/fn"), "payments", "payments", "g-payments",
      "      dead_letter: {type: kafka, connection: main, topic: payments-dlq}\n"));
  TriggerdProcess triggerd(config.path());
  auto ok_messages = [](int from, int to) {
    std::vector<KafkaMessage> messages;
    for (int i = from; i < to; ++i) messages.push_back({std::nullopt, "ok-" + std::to_string(i)});
    return messages;
  };
  cluster.produce("payments", ok_messages(0, 10));
  ASSERT_TRUE(function.wait_for_requests(10, 20s)) << triggerd.process().err();
  // The function rejects the next message for good (400: not retried).
  function.enqueue(respond_after(400, 0ms));
  cluster.produce("payments", {KafkaMessage{"acct-9", R"({"amount":-1})",
                                            {{"content-type", "application/json"}}}});
  ASSERT_TRUE(function.wait_for_requests(11, 10s));
  cluster.produce("payments", ok_messages(11, 50));
  ASSERT_TRUE(function.wait_for_requests(50, 20s)) << function.request_count();

  const auto dead = cluster.read_all("payments-dlq", 1);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].value, R"({"amount":-1})");
  EXPECT_EQ(dead[0].key, "acct-9");
  EXPECT_EQ(dead[0].header("ce_id"), "payments-0-10");
  EXPECT_EQ(dead[0].header("ce_subject"), "acct-9");
  EXPECT_EQ(dead[0].header("ce_type"), "dev.triggerd.kafka.message");
  EXPECT_EQ(dead[0].header("content-type"), "application/json");
  EXPECT_EQ(dead[0].header("ce_trigger"), "payments");
  EXPECT_EQ(dead[0].header("ce_function"), "fn");
  EXPECT_EQ(dead[0].header("ce_attempts"), "1");
  EXPECT_EQ(dead[0].header("ce_laststatus"), "400");
  EXPECT_TRUE(dead[0].header("ce_firstattempt").has_value());
  // Committed past the poison message, to the end.
  EXPECT_TRUE(wait_until([&] { return cluster.committed("g-payments", "payments", 1)[0] == 50; },
                         10s));
  EXPECT_EQ(trigger_sample(triggerd.admin_port(), "triggerd_events_dead_lettered_total",
                           "payments"),
            1.0);
  EXPECT_EQ(trigger_sample(triggerd.admin_port(), "triggerd_events_delivered_total", "payments"),
            49.0);
}

TEST(KafkaSource, ASecondReplicaTakesHalfThePartitionsAndNothingIsLost) {
  KafkaCluster cluster({{"shared", 4}});
  FunctionStub function;
  function.always(200, 2ms);
  constexpr int kMessages = 4000;
  cluster.produce_spread("shared", 4, kMessages);
  TempFile config(kafka_config(cluster.bootstrap(), function.url("/fn"), "shared", "shared",
                               "g-shared", "      max_inflight: 20\n",
                               // The mock cluster's rebalance waits about a session timeout.
                               "      session.timeout.ms: \"6000\"\n"));
  TriggerdProcess first(config.path());
  ASSERT_TRUE(function.wait_for_requests(500, 30s)) << first.process().err();
  // The second replica joins the group: a rebalance moves two partitions to it while the
  // first has events of them in flight.
  TriggerdProcess second(config.path());
  std::map<std::string, int> seen;
  ASSERT_TRUE(wait_for_distinct_ids(function, kMessages, seen))
      << seen.size() << " distinct of " << kMessages << "\n"
      << first.process().err() << second.process().err();
  const std::vector<std::int64_t> ends = cluster.end_offsets("shared", 4);
  EXPECT_TRUE(wait_until([&] { return cluster.committed("g-shared", "shared", 4) == ends; }, 15s));
  EXPECT_NE(second.process().err().find("assigned 2 partitions"), std::string::npos)
      << second.process().err();
  EXPECT_GT(trigger_sample(second.admin_port(), "triggerd_events_delivered_total", "shared"),
            0.0);
  // Only events in flight at a rebalance (at most max_inflight of the member that gives its
  // partitions up) may come twice. The mock cluster sometimes rebalances twice as the second
  // member joins (each member then gives up its partitions again): the bound is per
  // revocation, as each one logs it.
  auto revocations = [](const std::string& log) {
    std::size_t count = 0;
    std::istringstream lines(log);
    for (std::string line; std::getline(lines, line);) {
      if (line.find(": revoked ") != std::string::npos) ++count;
    }
    return count;
  };
  const std::size_t revoked =
      revocations(first.process().err()) + revocations(second.process().err());
  EXPECT_GE(revoked, 1u) << first.process().err();
  EXPECT_LE(function.requests().size() - static_cast<std::size_t>(kMessages), 20u * revoked)
      << revoked << " revocation(s)";
}

}  // namespace
}  // namespace triggerd::testing
