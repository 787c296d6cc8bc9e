// Demand mode end to end: the same arrival rate at two functions, one taking 200 ms per event
// and one taking 5 ms, through the real binary. Little's law says the slow one needs forty
// times the concurrency, so it must be asked for more replicas.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

#include "tests/function_stub/function_stub.hpp"
#include "tests/integration/end_to_end.hpp"

namespace triggerd::testing {
namespace {

using namespace std::chrono_literals;

class Demand : public EndToEndTest {};

TEST_F(Demand, ASlowFunctionGetsMoreReplicasThanAFastOneAtTheSameArrivalRate) {
  stub_.always_for("/slow", StubStep::respond(200).with_delay(200ms));
  stub_.always_for("/fast", StubStep::respond(200).with_delay(5ms));
  const std::string scaling =
      "    scaling: {mode: demand, concurrency_per_replica: 1, max_replicas: 50}\n";
  start("functions:\n  slow: {url: \"" + stub_.url("/slow") + "\"}\n  fast: {url: \"" +
        stub_.url("/fast") +
        "\"}\n"
        "triggers:\n"
        "  slow-hook:\n    function: slow\n    source: {type: http, path: /hooks/slow}\n" +
        scaling +
        "  fast-hook:\n    function: fast\n    source: {type: http, path: /hooks/fast}\n" +
        scaling);

  // 25 events a second to each for 4 s, reading desired replicas as KEDA would meanwhile.
  std::int64_t slow_max = 0;
  std::int64_t fast_max = 0;
  const auto begin = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) {
    accepted_id(post("/hooks/slow", "s" + std::to_string(i)));
    accepted_id(post("/hooks/fast", "f" + std::to_string(i)));
    slow_max = std::max(slow_max, trigger_status("slow-hook").at("desired_replicas").as_int64());
    fast_max = std::max(fast_max, trigger_status("fast-hook").at("desired_replicas").as_int64());
    std::this_thread::sleep_until(begin + (i + 1) * 40ms);
  }
  ASSERT_TRUE(metric_reaches(R"(triggerd_events_delivered_total{trigger="slow-hook"})", 100))
      << log();

  // 25/s × 0.2 s keeps 5 requests in flight: about five replicas of concurrency 1; 25/s ×
  // 5 ms keeps an eighth of one.
  EXPECT_GE(slow_max, 3) << log();
  EXPECT_LE(slow_max, 8);
  EXPECT_LE(fast_max, 1);
  EXPECT_GT(slow_max, fast_max);
  const double slow_duration =
      metric(R"(triggerd_mean_event_duration_seconds{trigger="slow-hook"})").value_or(0);
  const double fast_duration =
      metric(R"(triggerd_mean_event_duration_seconds{trigger="fast-hook"})").value_or(1);
  EXPECT_GT(slow_duration, 0.19);
  EXPECT_LT(fast_duration, 0.1);
  EXPECT_GT(metric(R"(triggerd_arrival_rate{trigger="fast-hook"})").value_or(0), 10);
}

}  // namespace
}  // namespace triggerd::testing
