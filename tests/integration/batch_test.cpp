// Batched delivery through the real binary (docs/delivery.md, "Batches"): a real redis-server
// or the Kafka mock cluster, and a function stub that reads each batch and answers per event.
// Every event is accounted for: sent, delivered, dead-lettered, seen more than once.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/text.hpp"
#include "core/time_format.hpp"
#include "tests/function_stub/function_stub.hpp"
#include "tests/integration/redis_test_helpers.hpp"
#include "tests/support/kafka_cluster.hpp"

namespace triggerd::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

// One event of a batch as the function reads it.
struct BatchEvent {
  std::string id;
  std::string data;  // decoded from data_base64, or the JSON text of data
  std::string attempt;
  Clock::time_point time;
};

std::string member(const boost::json::object& event, std::string_view name) {
  const boost::json::value* value = event.if_contains(name);
  return value != nullptr && value->is_string() ? std::string(value->get_string()) : "";
}

// The events of one batch request; empty (and a test failure) when it is not a JSON array of
// structured CloudEvents.
std::vector<BatchEvent> events_of(const RecordedRequest& request) {
  EXPECT_EQ(request.header("content-type"), "application/cloudevents-batch+json");
  boost::system::error_code error;
  const boost::json::value batch = boost::json::parse(request.body, error);
  if (error || !batch.is_array()) {
    ADD_FAILURE() << "not a JSON array: " << request.body.substr(0, 200);
    return {};
  }
  std::vector<BatchEvent> events;
  for (const boost::json::value& value : batch.get_array()) {
    const boost::json::object& object = value.as_object();
    BatchEvent event;
    event.id = member(object, "id");
    event.attempt = member(object, "attempt");
    event.time = parse_rfc3339(member(object, "time")).value_or(Clock::time_point());
    if (object.contains("data_base64")) {
      event.data = base64_decode(member(object, "data_base64")).value_or("(bad base64)");
    } else if (const boost::json::value* data = object.if_contains("data")) {
      event.data = boost::json::serialize(*data);
    }
    EXPECT_EQ(member(object, "specversion"), "1.0");
    events.push_back(std::move(event));
  }
  return events;
}

// The number N of data "entry-N" (add_entries) or "mN" (KafkaCluster::produce_spread).
int number_of(const std::string& data) {
  const auto digits = data.find_first_of("0123456789");
  return digits == std::string::npos ? -1 : std::stoi(data.substr(digits));
}

// A function stub that answers each batch with what `judge` says of its events (nullopt: 200
// with an empty body), and a ledger of every event it was sent.
class BatchFunction {
 public:
  using Judge = std::function<std::optional<StubStep>(const std::vector<BatchEvent>&)>;

  explicit BatchFunction(Judge judge = {}, int threads = 1)
      : judge_(std::move(judge)),
        stub_(FunctionStubOptions{.threads = threads, .answer = [this](const RecordedRequest& r) {
                                    return take(r);
                                  }}) {}

  std::string url() const { return stub_.url("/fn"); }
  FunctionStub& stub() { return stub_; }

  // Events received, counting repeats.
  std::size_t events() const {
    std::lock_guard lock(mutex_);
    return received_.size();
  }
  bool wait_for_events(std::size_t count, std::chrono::milliseconds timeout) const {
    return wait_until([&] { return events() >= count; }, timeout);
  }
  std::vector<BatchEvent> received() const {
    std::lock_guard lock(mutex_);
    return received_;
  }
  std::vector<std::size_t> batch_sizes() const {
    std::lock_guard lock(mutex_);
    return sizes_;
  }
  // How often each event (by data) was received.
  std::map<std::string, int> times_received() const {
    std::map<std::string, int> times;
    for (const BatchEvent& event : received()) ++times[event.data];
    return times;
  }

 private:
  std::optional<StubStep> take(const RecordedRequest& request) {
    std::vector<BatchEvent> events = events_of(request);
    {
      std::lock_guard lock(mutex_);
      sizes_.push_back(events.size());
      received_.insert(received_.end(), events.begin(), events.end());
    }
    return judge_ ? judge_(events) : std::nullopt;
  }

  Judge judge_;
  mutable std::mutex mutex_;
  std::vector<BatchEvent> received_;
  std::vector<std::size_t> sizes_;
  FunctionStub stub_;  // last: its threads call take() until it is gone
};

// {"statuses": [...]} with `status(event)` for each event.
StubStep statuses(const std::vector<BatchEvent>& events,
                  const std::function<std::string(const BatchEvent&)>& status) {
  boost::json::array list;
  for (const BatchEvent& event : events) {
    list.push_back(boost::json::object{{"id", event.id}, {"status", status(event)}});
  }
  return StubStep::respond(200, boost::json::serialize(boost::json::object{{"statuses", list}}));
}

// {"batchItemFailures": [...]} naming the events for which `failed(event)` holds.
StubStep item_failures(const std::vector<BatchEvent>& events,
                       const std::function<bool(const BatchEvent&)>& failed) {
  boost::json::array list;
  for (const BatchEvent& event : events) {
    if (failed(event)) list.push_back(boost::json::object{{"itemIdentifier", event.id}});
  }
  return StubStep::respond(
      200, boost::json::serialize(boost::json::object{{"batchItemFailures", list}}));
}

class BatchTest : public ::testing::Test {
 protected:
  BatchTest() : redis(server.port()) {}

  // A config file with one redis-stream trigger `name` reading the stream of that name into
  // `function`, with `delivery` lines (the batch among them).
  const std::string& stream_config(const BatchFunction& function, const std::string& name,
                                   const Lines& delivery) {
    configs_.push_back(std::make_unique<TempFile>(
        redis_config(server.port(), function.url(), stream_trigger(name, {}, delivery))));
    return configs_.back()->path();
  }

  RedisServer server;
  RedisTestClient redis;

 private:
  std::vector<std::unique_ptr<TempFile>> configs_;
};

TEST_F(BatchTest, DeliversTenThousandEntriesOnceInBatchesOfAtMostTheirSize) {
  constexpr int kEntries = 10000;
  BatchFunction function;
  add_entries(redis, "jobs", 0, kEntries);
  TriggerdProcess triggerd(stream_config(
      function, "jobs", {"max_inflight: 1000", "batch: {max_events: 100, max_wait: 100ms}"}));

  ASSERT_TRUE(function.wait_for_events(kEntries, 60s)) << function.events();
  ASSERT_TRUE(wait_until([&] { return pending(redis, "jobs") == 0; }, 10s));
  std::this_thread::sleep_for(300ms);  // a duplicate would show up now
  const std::map<std::string, int> times = function.times_received();
  EXPECT_EQ(function.events(), static_cast<std::size_t>(kEntries));
  EXPECT_EQ(times.size(), static_cast<std::size_t>(kEntries));  // none lost, none twice
  EXPECT_EQ(times.count("entry-0") + times.count("entry-9999"), 2u);
  const std::vector<std::size_t> sizes = function.batch_sizes();
  EXPECT_LE(*std::max_element(sizes.begin(), sizes.end()), 100u);
  // From a backlog, batches fill: far fewer requests than events.
  EXPECT_LE(sizes.size(), static_cast<std::size_t>(kEntries / 20)) << sizes.size();
  EXPECT_EQ(trigger_sample(triggerd.admin_port(), "triggerd_events_delivered_total", "jobs"),
            static_cast<double>(kEntries));
  EXPECT_TRUE(wait_until(
      [&] { return trigger_sample(triggerd.admin_port(), "triggerd_inflight_events", "jobs") == 0; },
      5s));
  const BatchEvent first = function.received().front();
  EXPECT_EQ(first.attempt, "1");
}

TEST_F(BatchTest, NoEventWaitsInABatchLongerThanMaxWait) {
  BatchFunction function;
  TriggerdProcess triggerd(stream_config(
      function, "trickle", {"batch: {max_events: 100, max_wait: 200ms}"}));
  ASSERT_TRUE(wait_until([&] { return pending(redis, "trickle") == 0; }, 10s));  // group made
  constexpr int kEntries = 40;
  for (int i = 0; i < kEntries; ++i) {  // over about 1 s: 4 or 5 max_waits
    add_entries(redis, "trickle", i, 1);
    std::this_thread::sleep_for(25ms);
  }
  ASSERT_TRUE(function.wait_for_events(kEntries, 10s)) << function.events();
  const std::vector<RecordedRequest> requests = function.stub().requests();
  EXPECT_GE(requests.size(), 3u);  // not held until full
  for (const RecordedRequest& request : requests) {
    Clock::time_point oldest = Clock::time_point::max();
    for (const BatchEvent& event : events_of(request)) oldest = std::min(oldest, event.time);
    // The entry's id time is when Redis took it; the source reads it at once. Leeway for a
    // loaded (sanitized) machine.
    EXPECT_LE(request.received_at - oldest, 200ms + 300ms)
        << std::chrono::duration_cast<std::chrono::milliseconds>(request.received_at - oldest)
               .count();
  }
}

// Entries 0..139: every 7th is answered `retry` every time (then dead-lettered after its
// attempts), every 10th but those `drop` (dead-lettered at once), the rest delivered.
void expect_per_event_outcomes(RedisTestClient& redis, const BatchFunction& function,
                               std::uint16_t admin_port, const std::string& trigger,
                               bool drops) {
  constexpr int kEntries = 140;
  const auto retried = [](int n) { return n % 7 == 0; };
  const auto dropped = [&](int n) { return drops && !retried(n) && n % 10 == 3; };
  int expect_dead = 0;
  for (int n = 0; n < kEntries; ++n) expect_dead += retried(n) || dropped(n) ? 1 : 0;
  ASSERT_TRUE(
      wait_until([&] { return redis.integer({"XLEN", "dlq"}) >= expect_dead; }, 20s))
      << redis.integer({"XLEN", "dlq"});
  ASSERT_TRUE(wait_until([&] { return pending(redis, trigger) == 0; }, 10s));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(redis.integer({"XLEN", "dlq"}), expect_dead);

  // Exactly the failed ones were sent again: 3 attempts each (retries: 2), the rest once.
  const std::map<std::string, int> times = function.times_received();
  ASSERT_EQ(times.size(), static_cast<std::size_t>(kEntries));
  for (const auto& [data, count] : times) {
    EXPECT_EQ(count, retried(number_of(data)) ? 3 : 1) << data;
  }
  // Each dead letter carries its own event's attempts.
  ReplyPtr entries = redis.command({"XRANGE", "dlq", "-", "+"});
  std::set<int> dead;
  for (std::size_t i = 0; i < entries->elements; ++i) {
    const redisReply* fields = entries->element[i]->element[1];
    std::map<std::string, std::string> entry;
    for (std::size_t f = 0; f + 1 < fields->elements; f += 2) {
      entry[fields->element[f]->str] = fields->element[f + 1]->str;
    }
    const int n = number_of(entry["data"]);
    dead.insert(n);
    EXPECT_TRUE(retried(n) || dropped(n)) << n;
    EXPECT_EQ(entry["attempts"], retried(n) ? "3" : "1") << n;
  }
  EXPECT_EQ(dead.size(), static_cast<std::size_t>(expect_dead));
  EXPECT_EQ(trigger_sample(admin_port, "triggerd_events_delivered_total", trigger),
            static_cast<double>(kEntries - expect_dead));
  EXPECT_EQ(trigger_sample(admin_port, "triggerd_events_dead_lettered_total", trigger),
            static_cast<double>(expect_dead));
}

TEST_F(BatchTest, StatusesRetryAndDropSingleEvents) {
  BatchFunction function([](const std::vector<BatchEvent>& events) {
    return statuses(events, [](const BatchEvent& event) -> std::string {
      const int n = number_of(event.data);
      if (n % 7 == 0) return "retry";
      if (n % 10 == 3) return "drop";
      return "success";
    });
  });
  add_entries(redis, "mixed", 0, 140);
  TriggerdProcess triggerd(stream_config(
      function, "mixed",
      {"retries: 2", "backoff: {delay: 10ms, max: 20ms}", "max_inflight: 200",
       "batch: {max_events: 50, max_wait: 50ms}",
       "dead_letter: {type: redis-stream, connection: main, stream: dlq}"}));
  expect_per_event_outcomes(redis, function, triggerd.admin_port(), "mixed", true);
}

TEST_F(BatchTest, LambdaItemFailuresRetryExactlyTheNamedEvents) {
  BatchFunction function([](const std::vector<BatchEvent>& events) {
    return item_failures(events,
                         [](const BatchEvent& event) { return number_of(event.data) % 7 == 0; });
  });
  add_entries(redis, "lambda", 0, 140);
  TriggerdProcess triggerd(stream_config(
      function, "lambda",
      {"retries: 2", "backoff: {delay: 10ms, max: 20ms}", "max_inflight: 200",
       "batch: {max_events: 50, max_wait: 50ms}",
       "dead_letter: {type: redis-stream, connection: main, stream: dlq}"}));
  expect_per_event_outcomes(redis, function, triggerd.admin_port(), "lambda", false);
}

TEST_F(BatchTest, AFailedRequestRetriesTheWholeBatch) {
  std::atomic<int> requests{0};
  BatchFunction function([&](const std::vector<BatchEvent>&) -> std::optional<StubStep> {
    if (requests.fetch_add(1) < 2) return StubStep::respond(503);
    return std::nullopt;
  });
  add_entries(redis, "flaky", 0, 30);
  TriggerdProcess triggerd(stream_config(
      function, "flaky",
      {"retries: 3", "backoff: {delay: 10ms, max: 20ms}", "batch: {max_events: 30}"}));
  ASSERT_TRUE(function.wait_for_events(90, 10s)) << function.events();
  ASSERT_TRUE(wait_until([&] { return pending(redis, "flaky") == 0; }, 10s));
  std::this_thread::sleep_for(200ms);  // a fourth request would show up now
  // Three requests of the same 30 events: attempts 1, 2 and 3.
  const std::vector<BatchEvent> received = function.received();
  ASSERT_EQ(received.size(), 90u);
  EXPECT_EQ(received[0].attempt, "1");
  EXPECT_EQ(received[30].attempt, "2");
  EXPECT_EQ(received[60].attempt, "3");
  EXPECT_EQ(trigger_sample(triggerd.admin_port(), "triggerd_events_delivered_total", "flaky"), 30.0);
}

TEST_F(BatchTest, MaxInflightCountsEventsNotRequests) {
  // The function holds each batch 100 ms on one of its 16 threads, counting the events it holds.
  std::atomic<std::int64_t> holding{0};
  std::atomic<std::int64_t> most{0};
  BatchFunction function(
      [&](const std::vector<BatchEvent>& events) -> std::optional<StubStep> {
        const auto now = holding.fetch_add(static_cast<std::int64_t>(events.size())) +
                         static_cast<std::int64_t>(events.size());
        std::int64_t seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::sleep_for(100ms);
        holding.fetch_sub(static_cast<std::int64_t>(events.size()));
        return std::nullopt;
      },
      16);
  add_entries(redis, "held", 0, 600);
  TriggerdProcess triggerd(stream_config(
      function, "held", {"max_inflight: 50", "batch: {max_events: 10, max_wait: 20ms}"}));
  ASSERT_TRUE(function.wait_for_events(600, 30s)) << function.events();
  EXPECT_LE(most.load(), 50);
  EXPECT_GE(most.load(), 20);  // several batches at once, else this proves nothing
  EXPECT_TRUE(wait_until([&] { return pending(redis, "held") == 0; }, 5s));
}

TEST_F(BatchTest, ADrainLosesNothingAndAResumedReplicaDeliversTheRest) {
  constexpr int kEntries = 400;
  BatchFunction function(
      [](const std::vector<BatchEvent>&) -> std::optional<StubStep> {
        std::this_thread::sleep_for(150ms);
        return std::nullopt;
      },
      8);
  add_entries(redis, "drained", 0, kEntries);
  const std::string& config =
      stream_config(function, "drained",
                    {"max_inflight: 100", "batch: {max_events: 25, max_wait: 1s}"});
  {
    TriggerdProcess first(config);
    ASSERT_TRUE(function.wait_for_events(50, 20s));
    first.process().send_signal(SIGTERM);
    EXPECT_EQ(first.process().wait_for_exit(10s), 0) << first.process().err();
  }
  const std::size_t before_restart = function.times_received().size();
  EXPECT_LT(before_restart, static_cast<std::size_t>(kEntries));  // the drain came mid-way
  TriggerdProcess second(config);
  ASSERT_TRUE(wait_until([&] { return function.times_received().size() == kEntries; }, 30s))
      << function.times_received().size();
  ASSERT_TRUE(wait_until([&] { return pending(redis, "drained") == 0; }, 10s));
  // A drain that finishes what it took sends nothing twice.
  EXPECT_EQ(function.events(), static_cast<std::size_t>(kEntries));
}

// Kafka, `ordering: partition`: the function fails message 10 of each partition once and, as
// an ordered consumer does, takes nothing after it in that batch. What it took, in the order it
// took it, must be each partition's messages in offset order, each once.
TEST(BatchKafka, OrderingByPartitionHoldsWhenAnEventMidBatchFails) {
  constexpr int kPartitions = 4;
  constexpr int kMessages = 400;  // 100 per partition
  KafkaCluster cluster({{"ordered", kPartitions}});
  cluster.produce_spread("ordered", kPartitions, kMessages);

  std::mutex mutex;
  std::map<int, std::vector<int>> taken;  // partition -> message numbers, in the order taken
  std::set<int> failed_once;
  BatchFunction function([&](const std::vector<BatchEvent>& events) {
    std::lock_guard lock(mutex);
    std::set<int> stopped;  // partitions with a failure earlier in this batch
    return statuses(events, [&](const BatchEvent& event) -> std::string {
      // The id is TOPIC-PARTITION-OFFSET.
      const auto dash = event.id.rfind('-');
      const int partition = std::stoi(event.id.substr(event.id.rfind('-', dash - 1) + 1));
      const int offset = std::stoi(event.id.substr(dash + 1));
      if (stopped.contains(partition)) return "retry";
      if (offset == 10 && failed_once.insert(partition).second) {
        stopped.insert(partition);
        return "retry";
      }
      taken[partition].push_back(number_of(event.data));
      return "success";
    });
  });
  TempFile config(
      "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  shutdown_timeout: 2s\n"
      "connections:\n  main:\n    type: kafka\n    brokers: \"" +
      cluster.bootstrap() + "\"\nfunctions:\n  fn:\n    url: " + function.url() +
      "\ntriggers:\n  ordered:\n    function: fn\n    source:\n      type: kafka\n"
      "      connection: main\n      topic: ordered\n      start: earliest\n"
      "    delivery:\n      ordering: partition\n      max_inflight: 200\n"
      "      backoff: {delay: 10ms, max: 20ms}\n"
      "      batch: {max_events: 30, max_wait: 50ms}\n");
  TriggerdProcess triggerd(config.path());
  const std::vector<std::int64_t> ends = cluster.end_offsets("ordered", kPartitions);
  ASSERT_TRUE(wait_until([&] { return cluster.committed("triggerd-ordered", "ordered",
                                                        kPartitions) == ends; },
                         30s))
      << triggerd.process().err();
  std::lock_guard lock(mutex);
  EXPECT_EQ(failed_once.size(), static_cast<std::size_t>(kPartitions));
  int total = 0;
  for (const auto& [partition, numbers] : taken) {
    total += static_cast<int>(numbers.size());
    // produce_spread puts message i on partition i % kPartitions.
    for (std::size_t k = 0; k < numbers.size(); ++k) {
      ASSERT_EQ(numbers[k], partition + static_cast<int>(k) * kPartitions)
          << "partition " << partition << " position " << k;
    }
  }
  EXPECT_EQ(total, kMessages);
}

}  // namespace
}  // namespace triggerd::testing
