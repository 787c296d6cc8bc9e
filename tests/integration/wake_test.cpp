// A function scaled to zero is woken, not dead-lettered: while it starts, refused connections
// and 503s do not use up the events' retries (docs/autoscaling.md). Counted: every event sent
// is delivered or dead-lettered exactly as the rules say, none twice, none lost.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string_view>
#include <vector>
#include <string>
#include <thread>

#include "tests/function_stub/function_stub.hpp"
#include "tests/integration/end_to_end.hpp"
#include "tests/support/free_port.hpp"

namespace triggerd::testing {
namespace {

using namespace std::chrono_literals;

constexpr char kDelivered[] = R"(triggerd_events_delivered_total{trigger="hook"})";
constexpr char kDeadLettered[] = R"(triggerd_events_dead_lettered_total{trigger="hook"})";
constexpr char kWaits[] = R"(triggerd_activation_waits_total{trigger="hook"})";

std::size_t requests_to_path(const FunctionStub& stub, std::string_view path) {
  std::size_t count = 0;
  for (const RecordedRequest& request : stub.requests()) count += request.path() == path ? 1 : 0;
  return count;
}

class Wake : public EndToEndTest {
 protected:
  // The trigger `hook` delivering to the function `cold` on `port` (nothing listens there yet),
  // with retries: 2 from 100 ms, an http dead letter on the fixture's stub, and `scaling`.
  void start_cold(std::uint16_t port, const std::string& scaling = "") {
    start("functions:\n  cold:\n    url: http://127.0.0.1:" + std::to_string(port) +
          "/cold\n    max_concurrency: 200\n"
          "triggers:\n  hook:\n    function: cold\n    source: {type: http, path: /hooks/orders}\n"
          "    delivery: {retries: 2, backoff: {delay: 100ms, max: 2s}, max_inflight: 200, "
          "dead_letter: {type: http, url: \"" +
          stub_.url("/dead-letter") + "\"}}\n" + (scaling.empty() ? "" : "    scaling: " + scaling + "\n"));
  }

  std::vector<std::string> post_events(int count) {
    std::vector<std::string> ids;
    for (int i = 0; i < count; ++i) ids.push_back(accepted_id(post("/hooks/orders", "e" + std::to_string(i))));
    return ids;
  }
};

TEST_F(Wake, EventsWaitForAFunctionStartingFromZeroAndAllGetThrough) {
  const std::uint16_t port = free_port();
  start_cold(port);
  const auto sent_at = std::chrono::steady_clock::now();
  const std::vector<std::string> ids = post_events(100);
  ASSERT_TRUE(metric_reaches(kWaits, 100)) << "every event waits rather than retrying\n" << log();

  // The function's first replica is up 5 s later: far past retries: 2 at 100 ms.
  std::this_thread::sleep_until(sent_at + 5s);
  EXPECT_EQ(metric(kDeadLettered), 0) << log();
  FunctionStub cold(FunctionStubOptions{.port = port});
  ASSERT_TRUE(metric_reaches(kDelivered, 100, 10s)) << log();

  std::map<std::string, int> seen;
  for (const RecordedRequest& request : cold.requests()) ++seen[request.header("ce-id")];
  EXPECT_EQ(seen.size(), 100u) << "delivered: each event once";
  for (const std::string& id : ids) EXPECT_EQ(seen[id], 1) << id;
  EXPECT_EQ(metric(kDeadLettered), 0);
  EXPECT_EQ(requests_to_path(stub_, "/dead-letter"), 0u);
  EXPECT_NE(log().find("function cold is being woken"), std::string::npos) << log();
  EXPECT_NE(log().find("function cold is awake"), std::string::npos) << log();
}

TEST_F(Wake, AFunctionThatNeverStartsDeadLettersItsEventsAfterTheActivationTimeout) {
  const std::uint16_t port = free_port();
  start_cold(port, "{activation_timeout: 2s}");
  const auto sent_at = std::chrono::steady_clock::now();
  post_events(10);
  ASSERT_TRUE(metric_reaches(kDeadLettered, 10, 10s)) << log();
  const auto took = std::chrono::steady_clock::now() - sent_at;
  EXPECT_GE(took, 2s) << "no event may go to the dead letter before activation_timeout";
  EXPECT_EQ(requests_to_path(stub_, "/dead-letter"), 10u);
  EXPECT_EQ(metric(kWaits), 10);
  EXPECT_NE(log().find("did not answer within activation_timeout"), std::string::npos) << log();
}

TEST_F(Wake, A503FromTheGatewayWhileStartingIsWaitedOutToo) {
  // A scale-from-zero gateway (an activator) answers 503 until a replica is there.
  start("functions:\n  fn:\n    url: " + stub_.url("/fn") +
        "\ntriggers:\n" + hook_trigger("{retries: 1, backoff: {delay: 50ms, max: 100ms}}"));
  stub_.enqueue_statuses({503, 503, 503, 503, 503, 200});
  accepted_id(post("/hooks/orders", "patience"));
  ASSERT_TRUE(metric_reaches(kDelivered, 1, 10s)) << log();
  EXPECT_EQ(stub_.requests().size(), 6u) << "five 503s did not use up one retry";
  EXPECT_EQ(metric(kWaits), 1);
}

TEST_F(Wake, AFunctionThatAnsweredWhileActiveIsFailingNotWakingAndRetriesCount) {
  // `keeper`'s slow event keeps the function active all along, so nothing starts a new wake.
  start(one_function(stub_) +
        hook_trigger("{retries: 1, backoff: {delay: 20ms, max: 40ms}, dead_letter: {type: http, "
                     "url: \"" + stub_.url("/dead-letter") + "\"}}") +
        "  keeper:\n    function: fn\n    source: {type: http, path: /hooks/keeper}\n");
  stub_.enqueue(StubStep::respond(200).with_delay(3s));
  stub_.enqueue_statuses({200, 503, 503});
  accepted_id(post("/hooks/keeper", "slow"));
  ASSERT_TRUE(stub_.wait_for_requests(1, kEventually));
  accepted_id(post("/hooks/orders", "ok"));
  ASSERT_TRUE(metric_reaches(kDelivered, 1)) << log();
  accepted_id(post("/hooks/orders", "fails"));
  ASSERT_TRUE(metric_reaches(kDeadLettered, 1)) << log();
  EXPECT_EQ(metric(kWaits), 0) << "a function that answered is not being woken";
  EXPECT_EQ(requests_to_path(stub_, "/fn"), 4u) << "keeper, ok, and fails twice (retries: 1)";
}

TEST_F(Wake, MinReplicasAboveZeroMeansNeverWaking) {
  const std::uint16_t port = free_port();
  start_cold(port, "{min_replicas: 1}");
  post_events(3);
  ASSERT_TRUE(metric_reaches(kDeadLettered, 3)) << log();
  EXPECT_EQ(metric(kWaits), 0);
}

}  // namespace
}  // namespace triggerd::testing
