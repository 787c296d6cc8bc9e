// The kafka source through the real binary, against the mock Kafka cluster and a function
// stub (docs/configuration.md, docs/delivery.md, docs/metrics.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <csignal>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/function_stub/function_stub.hpp"
#include "tests/integration/end_to_end.hpp"
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

// The mock cluster makes a member joining a group that another one just left wait about a
// session timeout (45 s by default), even after a clean leave; a killed member holds its
// partitions as long. Tests that restart or add a member keep it short.
constexpr const char* kShortSession = "      session.timeout.ms: \"6000\"\n";

// A test of one trigger named after its topic, reading it as group g-TOPIC from the mock
// cluster into the function stub's /fn.
class KafkaTest : public ::testing::Test {
 protected:
  // Starts the mock cluster with `topic` (and `more_topics`), and produces `messages` to the
  // topic, spread round-robin over its partitions.
  KafkaCluster& start_cluster(const std::string& topic, int partitions, int messages = 0,
                              const std::vector<KafkaTopic>& more_topics = {}) {
    std::vector<KafkaTopic> topics{{topic, partitions}};
    topics.insert(topics.end(), more_topics.begin(), more_topics.end());
    cluster_ = std::make_unique<KafkaCluster>(topics);
    topic_ = topic;
    if (messages > 0) cluster_->produce_spread(topic, partitions, messages);
    return *cluster_;
  }

  // The trigger's whole config, with `delivery` and the connection's `options` (YAML lines, as
  // kafka_config takes them).
  std::string trigger_config(const std::string& delivery = "",
                             const std::string& options = "") const {
    return kafka_config(cluster_->bootstrap(), function_.url("/fn"), topic_, topic_, "g-" + topic_,
                        delivery, options);
  }

  std::unique_ptr<KafkaCluster> cluster_;
  FunctionStub function_;
  std::string topic_;
};

class KafkaSource : public KafkaTest {};
class KafkaDrain : public KafkaTest {};
class KafkaDepth : public KafkaTest {};
class KafkaCommits : public KafkaTest {};

TEST_F(KafkaSource, DeliversEveryMessageOverEightPartitionsAndCommitsToTheEnd) {
  constexpr int kMessages = 20000;
  KafkaCluster& cluster = start_cluster("orders", 8, kMessages);
  TempFile config(trigger_config());
  TriggerdProcess triggerd(config.path());

  ASSERT_TRUE(function_.wait_for_requests(kMessages, 60s))
      << function_.request_count() << triggerd.process().err();
  const std::vector<std::int64_t> ends = cluster.end_offsets("orders", 8);
  EXPECT_TRUE(wait_until([&] { return cluster.committed("g-orders", "orders", 8) == ends; }, 10s));
  const auto requests = function_.requests();
  EXPECT_EQ(requests.size(), static_cast<std::size_t>(kMessages));
  std::set<std::string> ids;
  for (const auto& request : requests) ids.insert(request.header("ce-id"));
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kMessages));
  EXPECT_EQ(requests.front().header("ce-type"), "dev.triggerd.kafka.message");
  EXPECT_EQ(requests.front().header("ce-source"), "kafka://main/orders");
  EXPECT_TRUE(wait_until([&] { return trigger_idle(triggerd.admin_port(), "orders"); }, 10s));
  EXPECT_EQ(trigger_sample(triggerd.admin_port(), "triggerd_source_up", "orders"), 1.0);
}

TEST_F(KafkaSource, TakesMessagesFromKcatWithKeyAndHeaders) {
  KafkaCluster& cluster = start_cluster("events", 2);
  TempFile config(trigger_config());
  TriggerdProcess triggerd(config.path());
  cluster.produce_with_kcat("events", {"one", "two", "three"});
  cluster.produce("events", {KafkaMessage{"customer-7",
                                          R"({"a":1})",
                                          {{"content-type", "application/json"},
                                           {"traceparent",
                                            "00-0af7651916cd43dd8448eb211c80319c-"
                                            "b7ad6b7169203331-01"}},
                                          1}});
  ASSERT_TRUE(function_.wait_for_requests(4, 20s))
      << function_.request_count() << triggerd.process().err();
  std::set<std::string> bodies;
  for (const auto& request : function_.requests()) {
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

TEST_F(KafkaSource, PartitionOrderingKeepsOffsetsIncreasingPerPartition) {
  function_.always(200, 1ms);
  constexpr int kMessages = 400;
  start_cluster("seq", 4, kMessages);
  TempFile config(trigger_config("      ordering: partition\n      max_inflight: 50\n"));
  TriggerdProcess triggerd(config.path());
  ASSERT_TRUE(function_.wait_for_requests(kMessages, 30s))
      << function_.request_count() << triggerd.process().err();
  std::map<std::string, long long> last;
  for (const auto& request : function_.requests()) {
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

// `count` messages of about 1 KiB each, spread round-robin over `partitions` partitions.
void produce_kib_messages(KafkaCluster& cluster, const std::string& topic, int partitions,
                          int count) {
  std::vector<KafkaMessage> messages;
  messages.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    std::string value = "m" + std::to_string(i) + "-";
    value.resize(1024, 'x');
    messages.push_back(KafkaMessage{std::nullopt, std::move(value), {}, i % partitions});
  }
  cluster.produce(topic, messages);
}

TEST_F(KafkaSource, FunctionDownKeepsMemoryBoundedStaysInTheGroupAndDrainsWhenItIsBack) {
  KafkaCluster& cluster = start_cluster("down", 4);
  function_.always(503);
  TempFile config(
      trigger_config("      max_inflight: 50\n      retries: 1000\n"
                     "      backoff: {policy: constant, delay: 200ms, max: 200ms}\n",
                     // A member that stopped polling would be out after 7 s.
                     std::string(kShortSession) + "      max.poll.interval.ms: \"7000\"\n"));
  TriggerdProcess triggerd(config.path());
  auto sample = [&](const std::string& name) {
    return trigger_sample(triggerd.admin_port(), name, "down").value_or(-1);
  };
  ASSERT_TRUE(wait_until(
      [&] { return triggerd.process().err().find("assigned 4 partitions") != std::string::npos; },
      15s));
  const long rss_before = rss_kib(triggerd.process().pid());
  // 16 MiB waiting (4 MiB a partition: the mock cluster keeps 5), far more than the bound.
  constexpr int kMessages = 16000;
  produce_kib_messages(cluster, "down", 4, kMessages);
  // Every message is counted: waiting at the source or in flight, never more than 50 taken.
  EXPECT_TRUE(wait_until(
      [&] {
        return sample("triggerd_inflight_events") == 50.0 &&
               sample("triggerd_queue_depth") + sample("triggerd_inflight_events") == kMessages;
      },
      15s))
      << sample("triggerd_queue_depth") << " " << sample("triggerd_inflight_events");
  // Longer than max.poll.interval.ms: the member polls on while its trigger is full and keeps
  // its partitions.
  std::this_thread::sleep_for(8s);
  EXPECT_EQ(triggerd.process().err().find(": revoked "), std::string::npos)
      << triggerd.process().err();
  EXPECT_EQ(triggerd.process().err().find(": lost "), std::string::npos);
  EXPECT_EQ(sample("triggerd_source_up"), 1.0);
  EXPECT_EQ(sample("triggerd_queue_depth") + sample("triggerd_inflight_events"), kMessages);
  // What it holds of the backlog is bounded by max_inflight (docs/kafka.md), not by the
  // backlog: about 3.5 MiB here, where it used to take in 20 of these 16 MiB.
  const long grown_kib = rss_kib(triggerd.process().pid()) - rss_before;
#if !defined(TRIGGERD_SANITIZED)
  EXPECT_LT(grown_kib, 8 * 1024) << "resident memory grew by " << grown_kib << " KiB";
#else
  // The sanitizers' shadow memory and quarantine grow resident memory regardless.
  std::cerr << "resident memory grew by " << grown_kib << " KiB (not checked under a sanitizer)\n";
#endif

  function_.always(200);
  EXPECT_TRUE(wait_until([&] { return trigger_idle(triggerd.admin_port(), "down"); }, 30s))
      << sample("triggerd_queue_depth") << " " << sample("triggerd_inflight_events");
  const std::vector<std::int64_t> ends = cluster.end_offsets("down", 4);
  EXPECT_TRUE(wait_until([&] { return cluster.committed("g-down", "down", 4) == ends; }, 10s));
  EXPECT_EQ(trigger_sample(triggerd.admin_port(), "triggerd_events_delivered_total", "down"),
            kMessages);
}

TEST_F(KafkaSource, SigtermCommitsWhatFinishedAndExitsZero) {
  KafkaCluster& cluster = start_cluster("drain", 2, 100);
  TempFile config(trigger_config());
  TriggerdProcess triggerd(config.path());
  ASSERT_TRUE(function_.wait_for_requests(100, 20s)) << function_.request_count();
  // All finished before the signal (KafkaDrain below has events in flight at the signal).
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

TEST_F(KafkaSource, KillNineAndRestartLosesNothingAndRepeatsAtMostMaxInflight) {
  KafkaCluster& cluster = start_cluster("crash", 4);
  // The very first event hangs (as a stuck call would): its partition's committed offset
  // cannot pass it, and everything finished after it in that partition must still not come
  // again after the crash.
  function_.enqueue(respond_after(200, 30s));
  function_.always(200, 5ms);
  constexpr int kMessages = 4000;
  constexpr int kMaxInflight = 40;
  cluster.produce_spread("crash", 4, kMessages);
  TempFile config(trigger_config("      max_inflight: 40\n", kShortSession));
  {
    TriggerdProcess first(config.path());
    ASSERT_TRUE(function_.wait_for_requests(kMessages / 2, 30s))
        << function_.request_count() << first.process().err();
    first.process().send_signal(SIGKILL);
    first.process().wait_for_exit(10s);
  }
  const std::uint64_t before_restart = function_.request_count();
  TriggerdProcess second(config.path());
  std::map<std::string, int> seen;
  ASSERT_TRUE(wait_for_distinct_ids(function_, kMessages, seen))
      << seen.size() << " distinct of " << kMessages << "\n"
      << second.process().err();
  const std::vector<std::int64_t> ends = cluster.end_offsets("crash", 4);
  EXPECT_TRUE(wait_until([&] { return cluster.committed("g-crash", "crash", 4) == ends; }, 15s));
  const std::size_t total = function_.requests().size();
  const std::size_t repeated = total - static_cast<std::size_t>(kMessages);
  EXPECT_LE(repeated, static_cast<std::size_t>(kMaxInflight))
      << "delivered before the crash: " << before_restart << ", in all: " << total;
  // The hung event was in flight at the crash: it is among those delivered again.
  const std::string first_id = function_.requests().front().header("ce-id");
  EXPECT_EQ(seen[first_id], 2) << first_id;
}

TEST_F(KafkaSource, KeyOrderingKeepsEachKeyInOrderAndASlowKeyHoldsUpOnlyItself) {
  KafkaCluster& cluster = start_cluster("keys", 1);
  function_.enqueue(respond_after(200, 3s));  // the first message of key "slow"
  TempFile config(trigger_config("      ordering: key\n      max_inflight: 20\n"));
  TriggerdProcess triggerd(config.path());
  cluster.produce("keys", {KafkaMessage{"slow", "slow-0", {}, 0}});
  ASSERT_TRUE(function_.wait_for_requests(1, 20s)) << triggerd.process().err();
  std::vector<KafkaMessage> rest;
  for (int i = 0; i < 60; ++i) {
    const std::string key = i % 10 == 0 ? "slow" : "k" + std::to_string(i % 3);
    rest.push_back(KafkaMessage{key, key + "-" + std::to_string(i), {}, 0});
  }
  cluster.produce("keys", rest);
  // Keys k0..k2 (54 messages) flow while "slow" waits for its first answer.
  ASSERT_TRUE(function_.wait_for_requests(55, 2500ms)) << function_.request_count();
  const auto early = function_.requests();
  for (std::size_t i = 1; i < early.size(); ++i) {
    EXPECT_NE(early[i].header("ce-subject"), "slow") << early[i].body;
  }
  ASSERT_TRUE(function_.wait_for_requests(61, 20s)) << function_.request_count();
  const auto requests = function_.requests();
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

TEST_F(KafkaSource, APoisonMessageGoesToTheDeadLetterTopicAndTheRestIsDelivered) {
  KafkaCluster& cluster = start_cluster("payments", 1, 0, {{"payments-dlq", 1}});
  TempFile config(
      trigger_config("      dead_letter: {type: kafka, connection: main, topic: payments-dlq}\n"));
  TriggerdProcess triggerd(config.path());
  auto ok_messages = [](int from, int to) {
    std::vector<KafkaMessage> messages;
    for (int i = from; i < to; ++i) messages.push_back({std::nullopt, "ok-" + std::to_string(i)});
    return messages;
  };
  cluster.produce("payments", ok_messages(0, 10));
  ASSERT_TRUE(function_.wait_for_requests(10, 20s)) << triggerd.process().err();
  // The function rejects the next message for good (400: not retried).
  function_.enqueue(respond_after(400, 0ms));
  cluster.produce("payments", {KafkaMessage{"acct-9", R"({"amount":-1})",
                                            {{"content-type", "application/json"}}}});
  ASSERT_TRUE(function_.wait_for_requests(11, 10s));
  cluster.produce("payments", ok_messages(11, 50));
  ASSERT_TRUE(function_.wait_for_requests(50, 20s)) << function_.request_count();

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

TEST_F(KafkaSource, ASecondReplicaTakesHalfThePartitionsAndNothingIsLost) {
  function_.always(200, 2ms);
  constexpr int kMessages = 4000;
  KafkaCluster& cluster = start_cluster("shared", 4, kMessages);
  // The mock cluster's rebalance waits about a session timeout.
  TempFile config(trigger_config("      max_inflight: 20\n", kShortSession));
  TriggerdProcess first(config.path());
  ASSERT_TRUE(function_.wait_for_requests(500, 30s)) << first.process().err();
  // The second replica joins the group: a rebalance moves two partitions to it while the
  // first has events of them in flight.
  TriggerdProcess second(config.path());
  std::map<std::string, int> seen;
  ASSERT_TRUE(wait_for_distinct_ids(function_, kMessages, seen))
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
  const std::size_t revoked = count_lines(first.process().err(), ": revoked ") +
                              count_lines(second.process().err(), ": revoked ");
  EXPECT_GE(revoked, 1u) << first.process().err();
  EXPECT_LE(function_.requests().size() - static_cast<std::size_t>(kMessages), 20u * revoked)
      << revoked << " revocation(s)";
}

// ---- Hand-overs: the drain, a second member, a broker that is gone ----------------------

// docs/configuration.md, "Changing the config": retries, backoff and max_inflight are taken by
// the running consumer. No rebalance (the group's assignment callbacks do not run
// again), and nothing is delivered twice.
TEST_F(KafkaSource, AReloadThatChangesOnlyDeliveryKeepsTheConsumerAndItsPartitions) {
  constexpr int kMessages = 3000;
  start_cluster("orders", 4, kMessages);
  // About 800 events a second: the reload comes while most of them are still to come.
  function_.always(respond_after(200, 5ms));
  TempFile config(trigger_config("      retries: 5\n      max_inflight: 4\n"));
  TriggerdProcess triggerd(config.path());
  ASSERT_TRUE(function_.wait_for_requests(300, 30s)) << triggerd.process().err();

  // The file watcher is on by default: a new file renamed over the old one is the reload.
  config.write(
      trigger_config("      retries: 7\n      max_inflight: 6\n      backoff: {delay: 50ms}\n"));
  ASSERT_TRUE(wait_until(
      [&] {
        return sample(http_get(triggerd.admin_port(), "/metrics").body,
                      "triggerd_config_reloads_total{result=\"success\"}") == 1.0;
      },
      10s))
      << triggerd.process().err();
  const std::uint64_t at_reload = function_.request_count();
  // The new max_inflight holds: more in flight at the function than the old one allowed.
  function_.reset_max_concurrent();
  EXPECT_TRUE(wait_until([&] { return function_.max_concurrent() > 4; }, 10s))
      << function_.max_concurrent();

  ASSERT_TRUE(function_.wait_for_requests(kMessages, 60s)) << triggerd.process().err();
  EXPECT_LT(at_reload, static_cast<std::uint64_t>(kMessages)) << "the reload came under load";
  std::set<std::string> ids;
  for (const auto& request : function_.requests()) ids.insert(request.header("ce-id"));
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kMessages));
  EXPECT_EQ(function_.request_count(), static_cast<std::uint64_t>(kMessages))
      << "nothing delivered twice";
  const std::string log = triggerd.process().err();
  EXPECT_EQ(count_lines(log, ": assigned "), 1u) << log;
  EXPECT_EQ(count_lines(log, ": revoked "), 0u) << log;
  EXPECT_EQ(count_lines(log, "trigger orders changed: events taken from now on use the new "
                             "settings; its source is not touched"),
            1u)
      << log;
}

TEST_F(KafkaDrain, EventsFinishingDuringTheDrainAreCommittedAndNotDeliveredAgain) {
  function_.always(200, 3s);
  constexpr int kMessages = 20;
  KafkaCluster& cluster = start_cluster("slow", 4, kMessages);
  TempFile config(with_shutdown_timeout(trigger_config("", kShortSession), "15s"));
  {
    TriggerdProcess first(config.path());
    ASSERT_TRUE(function_.wait_for_requests(kMessages, 20s)) << first.process().err();
    const auto signalled = std::chrono::steady_clock::now();
    first.process().send_signal(SIGTERM);
    EXPECT_EQ(first.process().wait_for_exit(20s), 0) << first.process().err();
    // They take 3 s each: done well before the 15 s.
    EXPECT_LT(std::chrono::steady_clock::now() - signalled, 10s);
    EXPECT_TRUE(log_has(first, "every in-flight event finished")) << first.process().err();
  }
  EXPECT_EQ(cluster.committed("g-slow", "slow", 4), cluster.end_offsets("slow", 4));

  function_.always(200);
  TriggerdProcess second(config.path());
  ASSERT_TRUE(wait_until([&] { return log_has(second, "assigned 4 partitions"); }, 20s))
      << second.process().err();
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(function_.request_count(), static_cast<std::uint64_t>(kMessages))
      << "delivered again after the restart";
}

TEST_F(KafkaDrain, WithPartitionOrderingTheHeadsFinishAndTheRestComesOnceInOrder) {
  function_.always(200, 2s);
  constexpr int kMessages = 12;  // 3 a partition
  KafkaCluster& cluster = start_cluster("ordered", 4, kMessages);
  TempFile config(
      with_shutdown_timeout(trigger_config("      ordering: partition\n", kShortSession), "15s"));
  {
    TriggerdProcess first(config.path());
    ASSERT_TRUE(function_.wait_for_requests(4, 20s)) << first.process().err();  // the heads
    first.process().send_signal(SIGTERM);
    EXPECT_EQ(first.process().wait_for_exit(20s), 0) << first.process().err();
  }
  // The heads finished during the drain and were committed; nothing after them started.
  EXPECT_EQ(function_.request_count(), 4u);
  EXPECT_EQ(cluster.committed("g-ordered", "ordered", 4), (std::vector<std::int64_t>{1, 1, 1, 1}));

  function_.always(200, 100ms);
  TriggerdProcess second(config.path());
  std::map<std::string, int> seen;
  ASSERT_TRUE(wait_for_distinct_ids(function_, kMessages, seen)) << second.process().err();
  EXPECT_TRUE(wait_until(
      [&] {
        return cluster.committed("g-ordered", "ordered", 4) == cluster.end_offsets("ordered", 4);
      },
      10s));
  EXPECT_EQ(function_.request_count(), static_cast<std::uint64_t>(kMessages));
  std::map<std::string, long long> last;
  for (const auto& request : function_.requests()) {
    const auto [partition, offset] = split_id(request.header("ce-id"));
    if (last.contains(partition)) {
      EXPECT_GT(offset, last[partition]) << request.header("ce-id");
    }
    last[partition] = offset;
  }
}

TEST_F(KafkaDrain, ADrainingMemberKeepsItsPartitionsUntilItsEventsFinish) {
  KafkaCluster& cluster = start_cluster("handover", 4);
  function_.always(200, 2s);
  // The same group, each member calling the function on a path of its own: the requests tell
  // which member delivered what.
  auto member_config = [&](const std::string& path) {
    return with_shutdown_timeout(
        kafka_config(cluster.bootstrap(), function_.url(path), "handover", "handover", "g-handover",
                     "      ordering: partition\n", kShortSession),
        "20s");
  };
  TempFile draining_config(member_config("/draining"));
  TempFile staying_config(member_config("/staying"));
  TriggerdProcess draining(draining_config.path());
  ASSERT_TRUE(wait_until([&] { return log_has(draining, "assigned 4 partitions"); }, 15s))
      << draining.process().err();
  TriggerdProcess staying(staying_config.path());
  // Both members in the group with two partitions each, and settled (the mock cluster may
  // rebalance twice as a member joins).
  ASSERT_TRUE(wait_until(
      [&] {
        return log_has(draining, "assigned 2 partitions") &&
               log_has(staying, "assigned 2 partitions");
      },
      30s))
      << draining.process().err() << staying.process().err();
  std::this_thread::sleep_for(3s);
  cluster.produce_spread("handover", 4, 12);        // 3 a partition, each taking 2 s
  ASSERT_TRUE(function_.wait_for_requests(4, 20s));  // the heads: two on each member
  std::set<std::string> draining_partitions;
  for (const auto& request : function_.requests()) {
    if (request.path() == "/draining") {
      draining_partitions.insert(split_id(request.header("ce-id")).first);
    }
  }
  ASSERT_EQ(draining_partitions.size(), 2u);
  draining.process().send_signal(SIGTERM);
  EXPECT_EQ(draining.process().wait_for_exit(30s), 0) << draining.process().err();

  std::map<std::string, int> seen;
  ASSERT_TRUE(wait_for_distinct_ids(function_, 12, seen))
      << draining.process().err() << staying.process().err();
  std::this_thread::sleep_for(1s);
  // The draining member's partitions stayed its own until its events were finished and
  // committed: the other member delivered none of them again.
  for (const auto& [id, times] : seen) {
    if (draining_partitions.contains(split_id(id).first)) {
      EXPECT_EQ(times, 1) << id << "\n" << draining.process().err() << staying.process().err();
    }
  }
  // (The other member's own events may come twice here: it lets them finish before the
  // rebalance takes its partitions, but the mock cluster refuses the commit it then makes,
  // where a Kafka broker accepts it.)
  // One event at a time per partition across both members: each started after the one before
  // it had its answer (2 s).
  std::map<std::string, std::chrono::steady_clock::time_point> previous;
  for (const auto& request : function_.requests()) {
    const std::string partition = split_id(request.header("ce-id")).first;
    if (previous.contains(partition)) {
      EXPECT_GE(request.received_steady - previous[partition], 1900ms) << request.header("ce-id");
    }
    previous[partition] = request.received_steady;
  }
}

TEST_F(KafkaDrain, SigtermWhileTheBrokersAreGoneExitsByTheShutdownTimeoutOnItsOwn) {
  function_.always(200, 2s);
  KafkaCluster& cluster = start_cluster("gone", 2, 10);
  TempFile config(with_shutdown_timeout(trigger_config(), "5s"));
  TriggerdProcess triggerd(config.path());
  ASSERT_TRUE(function_.wait_for_requests(10, 20s)) << triggerd.process().err();
  cluster.kill();  // every broker gone, with events in flight
  const auto signalled = std::chrono::steady_clock::now();
  triggerd.process().send_signal(SIGTERM);
  EXPECT_EQ(triggerd.process().wait_for_exit(15s), 0) << triggerd.process().err();
  EXPECT_LE(std::chrono::steady_clock::now() - signalled, 7s);
  // The source closed by the deadline itself: the app's backstops did not have to act.
  const std::string log = triggerd.process().err();
  EXPECT_EQ(log.find("did not close by the deadline; exiting without them"), std::string::npos)
      << log;
  EXPECT_EQ(log.find("teardown did not finish by its deadline"), std::string::npos) << log;
  EXPECT_NE(log.find("triggerd stopped"), std::string::npos) << log;
}

TEST_F(KafkaDrain, ASecondSignalEndsTheDrainAtOnceAndTheUnfinishedComeAgain) {
  function_.always(200, 10s);
  KafkaCluster& cluster = start_cluster("abandon", 2, 6);
  TempFile config(with_shutdown_timeout(trigger_config("", kShortSession), "30s"));
  {
    TriggerdProcess first(config.path());
    ASSERT_TRUE(function_.wait_for_requests(6, 20s)) << first.process().err();
    first.process().send_signal(SIGTERM);
    std::this_thread::sleep_for(500ms);
    const auto second_signal = std::chrono::steady_clock::now();
    first.process().send_signal(SIGTERM);
    EXPECT_EQ(first.process().wait_for_exit(10s), 0) << first.process().err();
    EXPECT_LT(std::chrono::steady_clock::now() - second_signal, 2s);
    // The source let go at once by itself: the watchdog did not have to end the process.
    EXPECT_FALSE(log_has(first, "teardown did not finish by its deadline"))
        << first.process().err();
  }
  // Abandoned, never committed: all of them come again (at least once).
  EXPECT_EQ(sum_committed(cluster.committed("g-abandon", "abandon", 2)), 0);
  function_.always(200);
  TriggerdProcess second(config.path());
  EXPECT_TRUE(function_.wait_for_requests(12, 20s)) << second.process().err();
}

// ---- Depth ---------------------------------------------------------------------------------

TEST_F(KafkaDepth, ARestartWithEverythingCommittedCountsNothingWaiting) {
  KafkaCluster& cluster = start_cluster("done", 2, 10);
  for (const int signal : {SIGTERM, SIGKILL}) {
    SCOPED_TRACE(signal == SIGTERM ? "SIGTERM" : "SIGKILL");
    function_.clear();
    const std::string group = "g-done-" + std::to_string(signal);
    TempFile config(kafka_config(cluster.bootstrap(), function_.url("/fn"), "done", "done", group,
                                 "", kShortSession));
    {
      TriggerdProcess first(config.path());
      ASSERT_TRUE(function_.wait_for_requests(10, 20s)) << first.process().err();
      ASSERT_TRUE(wait_until(
          [&] { return cluster.committed(group, "done", 2) == cluster.end_offsets("done", 2); },
          10s));
      first.process().send_signal(signal);
      first.process().wait_for_exit(20s);
    }
    TriggerdProcess second(config.path());
    ASSERT_TRUE(wait_until([&] { return log_has(second, "assigned 2 partitions"); }, 20s))
        << second.process().err();
    // A few depth refreshes (every second): nothing waits, nothing is in flight, the
    // autoscaler may scale the function down.
    for (int look = 0; look < 3; ++look) {
      std::this_thread::sleep_for(1500ms);
      const boost::json::value info = trigger_info(second.admin_port(), "done");
      ASSERT_TRUE(info.is_object());
      EXPECT_EQ(info.as_object().at("queue_depth").to_number<double>(), 0.0)
          << boost::json::serialize(info);
      EXPECT_EQ(info.as_object().at("backlog").to_number<double>(), 0.0);
      EXPECT_EQ(info.as_object().at("active").as_bool(), false);
    }
    EXPECT_EQ(function_.request_count(), 10u);
  }
}

// ---- Commit failures -----------------------------------------------------------------------

TEST_F(KafkaCommits, AFailedCommitIsCountedLoggedOnceAndSentAgain) {
  KafkaCluster& cluster = start_cluster("flaky", 1);
  TempFile config(trigger_config());
  TriggerdProcess triggerd(config.path());
  ASSERT_TRUE(wait_until([&] { return log_has(triggerd, "assigned 1 partitions"); }, 15s));
  constexpr int kInvalidCommitOffsetSize = 28;  // refused for good: not retried by librdkafka
  cluster.fail_commits(3, kInvalidCommitOffsetSize);
  cluster.produce_spread("flaky", 1, 10);
  ASSERT_TRUE(function_.wait_for_requests(10, 20s));
  EXPECT_TRUE(wait_until([&] { return cluster.committed("g-flaky", "flaky", 1)[0] == 10; }, 10s))
      << triggerd.process().err();
  const HttpResponse metrics = http_get(triggerd.admin_port(), "/metrics");
  EXPECT_EQ(sample(metrics.body, R"(triggerd_source_errors_total{kind="commit",trigger="flaky"})"),
            3.0);
  // Each failure counted, the log line once (a broker that is gone fails ten a second).
  EXPECT_EQ(count_lines(triggerd.process().err(), "kafka commit failed"), 1u)
      << triggerd.process().err();
}

// ---- Options -------------------------------------------------------------------------------

TEST(KafkaOptions, ValidateAndRunRefuseWhatLibrdkafkaRefusesWithoutShowingValues) {
  TempFile config(kafka_config("127.0.0.1:9", "http://127.0.0.1:9/fn", "orders", "orders",
                               "g-orders", "",
                               "      sasl.password: hunter2-is-secret\n"
                               "      security.protocol: sasl_sslx\n"));
  for (const char* command : {"validate", "run"}) {
    SCOPED_TRACE(command);
    const RunResult result = run_process(triggerd_binary(), {command, "-c", config.path()});
    EXPECT_EQ(result.exit_code, 2) << result.out << result.err;
    EXPECT_NE(result.err.find(config.path() +
                              ":12:26: error: connections.main.options.security.protocol: "),
              std::string::npos)
        << result.err;
    EXPECT_EQ((result.out + result.err).find("hunter2-is-secret"), std::string::npos);
    EXPECT_EQ((result.out + result.err).find("sasl_sslx"), std::string::npos);
  }
}

}  // namespace
}  // namespace triggerd::testing
