// A trigger's filters through the real binary (docs/filters.md): against the mock Kafka cluster,
// a real redis-server and webhooks, every event sent is accounted for. Those that pass reach the
// function exactly once; the rest are acknowledged at their source (committed, XACKed) and
// counted in triggerd_events_filtered_total, never sent.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/end_to_end.hpp"
#include "tests/integration/redis_test_helpers.hpp"
#include "tests/support/kafka_cluster.hpp"

namespace triggerd::testing {
namespace {

using namespace std::chrono_literals;

// What reached the function, against what should have: bodies that never came, came more than
// once, or came without being expected.
struct Tally {
  int lost = 0;
  int duplicated = 0;
  int unexpected = 0;
};

Tally tally(const FunctionStub& function, const std::set<std::string>& expected) {
  std::map<std::string, int> seen;
  for (const auto& request : function.requests()) ++seen[request.body];
  Tally result;
  for (const std::string& body : expected) {
    const auto it = seen.find(body);
    if (it == seen.end()) {
      ++result.lost;
    } else {
      result.duplicated += it->second - 1;
    }
  }
  for (const auto& [body, count] : seen) {
    if (!expected.contains(body)) result.unexpected += count;
  }
  return result;
}

void expect_exactly(const FunctionStub& function, const std::set<std::string>& expected) {
  const Tally result = tally(function, expected);
  EXPECT_EQ(result.lost, 0) << "of " << expected.size() << " that pass";
  EXPECT_EQ(result.duplicated, 0);
  EXPECT_EQ(result.unexpected, 0) << "events that should have been filtered out";
}

// ---- Kafka ----------------------------------------------------------------------------------

constexpr int kPartitions = 4;

// The trigger `orders` on topic orders, with `ordering` and `filters` (YAML lines indented by 6).
std::string kafka_config(const std::string& bootstrap, const std::string& function_url,
                         const std::string& ordering, const std::string& filters) {
  return "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  shutdown_timeout: 2s\n"
         "connections:\n  main:\n    type: kafka\n    brokers: \"" +
         bootstrap +
         "\"\n"
         "functions:\n  fn:\n    url: " +
         function_url +
         "\n    timeout: 5s\n"
         "triggers:\n  orders:\n    function: fn\n"
         "    source: {type: kafka, connection: main, topic: orders, group: g-orders, "
         "start: earliest}\n"
         "    delivery: {ordering: " +
         ordering + ", max_inflight: 50}\n    filters:\n" + filters;
}

// `count` messages "m0".. over the partitions: a third with the header ce_priority: high, a
// third with low, a third with none. The high ones are returned in `high`.
std::vector<KafkaMessage> mixed_messages(int count, std::set<std::string>& high) {
  std::vector<KafkaMessage> messages;
  for (int i = 0; i < count; ++i) {
    KafkaMessage message{std::nullopt, "m" + std::to_string(i), {}, i % kPartitions};
    if (i % 3 == 0) {
      message.headers.emplace_back("ce_priority", "high");
      high.insert(message.value);
    } else if (i % 3 == 1) {
      message.headers.emplace_back("ce_priority", "low");
    }
    messages.push_back(std::move(message));
  }
  return messages;
}

// Kafka, unordered and with one event per partition at a time: under `ordering: partition` the
// source starts a partition's next event from inside the acknowledgement of the one before, and
// the filtered ones are acknowledged from a handler of their own.
class KafkaFilter : public ::testing::TestWithParam<const char*> {};

TEST_P(KafkaFilter, DeliversTheMatchingMessagesOnlyAndCommitsEveryOther) {
  constexpr int kMessages = 300;
  FunctionStub function;
  KafkaCluster cluster({{"orders", kPartitions}});
  std::set<std::string> high;
  cluster.produce("orders", mixed_messages(kMessages, high));
  const std::string ordering = GetParam();
  TempFile config(kafka_config(cluster.bootstrap(), function.url("/fn"), ordering,
                               "      - exact: {priority: high}\n"));
  TriggerdProcess triggerd(config.path());

  ASSERT_TRUE(function.wait_for_requests(high.size(), 30s))
      << function.request_count() << triggerd.process().err();
  const std::vector<std::int64_t> ends = cluster.end_offsets("orders", kPartitions);
  EXPECT_TRUE(
      wait_until([&] { return cluster.committed("g-orders", "orders", kPartitions) == ends; }, 15s))
      << "the filtered messages are committed too";
  EXPECT_TRUE(wait_until([&] { return trigger_idle(triggerd.admin_port(), "orders"); }, 10s));
  std::this_thread::sleep_for(300ms);  // a duplicate, or a filtered one sent late, would show now

  expect_exactly(function, high);
  std::map<std::string, long long> last_offset;
  for (const auto& request : function.requests()) {
    EXPECT_EQ(request.header("ce-priority"), "high") << request.body;
    if (ordering != "partition") continue;
    const std::string id = request.header("ce-id");  // orders-PARTITION-OFFSET
    const auto dash = id.rfind('-');
    const long long offset = std::stoll(id.substr(dash + 1));
    const std::string partition = id.substr(0, dash);
    if (last_offset.contains(partition)) {
      EXPECT_GT(offset, last_offset[partition]) << id;
    }
    last_offset[partition] = offset;
  }
  const auto metric = [&](const char* name) {
    return trigger_sample(triggerd.admin_port(), name, "orders");
  };
  EXPECT_EQ(metric("triggerd_events_received_total"), kMessages);
  EXPECT_EQ(metric("triggerd_events_filtered_total"), kMessages - static_cast<int>(high.size()));
  EXPECT_EQ(metric("triggerd_events_delivered_total"), static_cast<double>(high.size()));
  EXPECT_EQ(metric("triggerd_inflight_events"), 0.0);
  EXPECT_EQ(metric("triggerd_queue_depth"), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Ordering, KafkaFilter, ::testing::Values("none", "partition"),
                         [](const ::testing::TestParamInfo<const char*>& param_info) {
                           return std::string(param_info.param);
                         });

// ---- Redis stream ---------------------------------------------------------------------------

using RedisStreamFilter = RedisTest;

TEST_F(RedisStreamFilter, DeliversTheEntriesWhoseJsonPassesAndAcknowledgesTheRest) {
  std::vector<std::vector<std::string>> commands;
  std::set<std::string> passing;
  constexpr int kJson = 200;
  for (int i = 0; i < kJson; ++i) {
    const std::string body =
        R"({"id": )" + std::to_string(i) + R"(, "amount": )" + std::to_string(i * 5) + "}";
    commands.push_back({"XADD", "payments", "*", "data", body});
    if (i * 5 >= 100) passing.insert(body);
  }
  // Not JSON: no data filter matches them.
  constexpr int kNotJson = 30;
  for (int i = 0; i < kNotJson; ++i) {
    commands.push_back({"XADD", "payments", "*", "data", "amount=" + std::to_string(1000 + i)});
  }
  // Several fields: a JSON object of strings, which no numeric condition matches.
  constexpr int kFields = 20;
  for (int i = 0; i < kFields; ++i) {
    commands.push_back({"XADD", "payments", "*", "amount", "500", "id", std::to_string(i)});
  }
  redis.pipeline(commands);
  constexpr int kTotal = kJson + kNotJson + kFields;

  TriggerdProcess triggerd(
      config_for(stream_trigger("payments", {"consumer: c1", "count: 25"}, {"max_inflight: 20"}) +
                 "    filters:\n"
                 "      - data:\n"
                 "          amount: {numeric: [\">=\", 100]}\n"));
  ASSERT_TRUE(function.wait_for_requests(passing.size(), 20s))
      << function.request_count() << triggerd.process().err();
  EXPECT_TRUE(wait_until([&] { return pending(redis, "payments") == 0; }, 10s))
      << "pending: " << pending(redis, "payments");
  EXPECT_TRUE(wait_until([&] { return group_lag(redis, "payments") == 0; }, 10s));
  EXPECT_TRUE(wait_until([&] { return trigger_idle(triggerd.admin_port(), "payments"); }, 10s));
  std::this_thread::sleep_for(300ms);

  expect_exactly(function, passing);
  const auto metric = [&](const char* name) {
    return trigger_sample(triggerd.admin_port(), name, "payments");
  };
  EXPECT_EQ(metric("triggerd_events_received_total"), kTotal);
  EXPECT_EQ(metric("triggerd_events_filtered_total"), kTotal - static_cast<int>(passing.size()));
  EXPECT_EQ(metric("triggerd_events_delivered_total"), static_cast<double>(passing.size()));
}

// ---- Webhook, and a reload ------------------------------------------------------------------

class WebhookFilter : public EndToEndTest {
 protected:
  // The trigger `hook` at /hooks/orders, delivering the requests of `content_type` only.
  static std::string config(const std::string& content_type) {
    return "functions:\n  fn:\n    url: URL\n"
           "triggers:\n  hook:\n    function: fn\n    source: {type: http, path: /hooks/orders}\n"
           "    filters:\n      - exact: {datacontenttype: " +
           content_type + "}\n";
  }
  std::string config_for(const std::string& content_type) {
    std::string text = config(content_type);
    text.replace(text.find("URL"), 3, stub_.url("/fn"));
    return text;
  }

  // POSTs one JSON and one text request, each answered 202 with its id.
  void post_both(const std::string& tag) {
    EXPECT_FALSE(accepted_id(post("/hooks/orders", "{\"n\": \"" + tag + "\"}",
                                  {{"Content-Type", "application/json"}}))
                     .empty());
    EXPECT_FALSE(accepted_id(post("/hooks/orders", "text " + tag, {{"Content-Type", "text/plain"}}))
                     .empty());
  }
};

TEST_F(WebhookFilter, AnswersEveryRequestAndAReloadChangesTheFiltersWithoutARestart) {
  start(config_for("application/json"), "  watch_config: false\n");
  post_both("1");
  ASSERT_TRUE(metric_reaches(R"(triggerd_events_filtered_total{trigger="hook"})", 1));
  ASSERT_TRUE(stub_.wait_for_requests(1, kEventually));

  config_->write(
      "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n"
      "  watch_config: false\n" +
      config_for("text/plain"));
  triggerd_->process().send_signal(SIGHUP);
  ASSERT_TRUE(metric_reaches(R"(triggerd_config_reloads_total{result="success"})", 1));
  EXPECT_TRUE(log_has(*triggerd_,
                      "trigger hook changed: events taken from now on use the new "
                      "settings; its source is not touched"))
      << log();
  post_both("2");
  ASSERT_TRUE(metric_reaches(R"(triggerd_events_filtered_total{trigger="hook"})", 2));
  ASSERT_TRUE(stub_.wait_for_requests(2, kEventually));
  std::this_thread::sleep_for(200ms);

  expect_exactly(stub_, {"{\"n\": \"1\"}", "text 2"});
  EXPECT_EQ(metric(R"(triggerd_events_received_total{trigger="hook"})"), 4);
  EXPECT_EQ(metric(R"(triggerd_events_delivered_total{trigger="hook"})"), 2);
}

}  // namespace
}  // namespace triggerd::testing
