// The queue itself goes away. Redis restarted under load (both Redis sources): the server
// stops, writing its append-only file, while events are in flight, and comes back on the same
// port; nothing may be lost, what was in flight when its acknowledgement could not land may
// come again, and the outage shows as a stat and as source_up 0. And a SIGTERM while the queue
// is unreachable (every source): the drain cannot acknowledge anything, yet the process must
// exit 0 within shutdown_timeout, and the next start must deliver what it left.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "tests/faults/fault_harness.hpp"
#include "tests/faults/ledger.hpp"
#include "tests/function_stub/function_stub.hpp"
#include "tests/support/process.hpp"

namespace triggerd::testing {
namespace {

using std::chrono::steady_clock;

class QueueOutage : public FaultCase {
 protected:
  void SetUp() override { make_queue(QueueOptions{.durable = true}); }
};

double source_errors(Replica& replica) {
  double total = 0;
  for (const char* kind : {"connect", "command", "ack", "commit"}) {
    total += replica.metric("triggerd_source_errors_total", std::string("kind=\"") + kind + "\"")
                 .value_or(0);
  }
  return total;
}

// Redis sources only.
class RedisRestart : public QueueOutage {};

TEST_P(RedisRestart, RedisRestartedUnderLoadLosesNothing) {
  Ledger ledger = this->ledger("Redis restarted under load");
  function_.always(StubStep::respond(200).with_delay(100ms));
  const DeliverySettings settings = this->settings();
  queue_->send(ledger.issue(200));
  Replica replica("a", config(settings, "replica-a"));
  ASSERT_TRUE(function_.wait_for_requests(50, 30s)) << replica.log();

  queue_->take_down();
  EXPECT_TRUE(wait_until([&] { return replica.metric("triggerd_source_up") == 0.0; }, 5s))
      << replica.log();
  std::this_thread::sleep_for(500ms);  // events in flight finish while Redis is away
  queue_->bring_back();
  EXPECT_TRUE(wait_until([&] { return replica.metric("triggerd_source_up") == 1.0; }, 15s))
      << replica.log();

  EXPECT_TRUE(accounted(ledger)) << queue_->describe() << "\n" << replica.log();
  // What was in flight when Redis went away may come again (its acknowledgement was lost).
  expect_accounted(ledger, static_cast<std::size_t>(settings.max_inflight), replica.log());
  EXPECT_TRUE(replica.reports_idle()) << replica.status() << "\n" << replica.log();
  EXPECT_GT(source_errors(replica), 0) << "the outage is counted in triggerd_source_errors_total";
}

TEST_P(QueueOutage, SigtermWhileTheQueueIsDownExitsWithinTheShutdownTimeoutAndLosesNothing) {
  Ledger ledger = this->ledger("SIGTERM while the queue is down, restart");
  function_.always(StubStep::respond(200).with_delay(300ms));
  DeliverySettings settings = this->settings();
  settings.shutdown_timeout = "3s";
  queue_->send(ledger.issue(100));
  Replica replica("a", config(settings, "replica-a"));
  ASSERT_TRUE(function_.wait_for_requests(25, 30s)) << replica.log();

  queue_->take_down();
  std::this_thread::sleep_for(100ms);
  const auto signalled = steady_clock::now();
  const std::optional<int> exit_code = replica.terminate(15s);
  const auto took = steady_clock::now() - signalled;
  EXPECT_EQ(exit_code, 0) << replica.log();
  EXPECT_LE(took, 3s + 1500ms) << "shutdown_timeout bounds the whole teardown\n" << replica.log();
  // The watchdog is a backstop for a stuck client library; a source must close by the deadline
  // on its own.
  EXPECT_EQ(replica.log().find("teardown did not finish by its deadline"), std::string::npos)
      << replica.log();

  queue_->bring_back();
  function_.always(200);
  replica.restart();
  EXPECT_TRUE(accounted(ledger)) << queue_->describe() << "\n" << replica.log();
  // What was in flight, or finished without its acknowledgement landing, may come again.
  expect_accounted(ledger, static_cast<std::size_t>(settings.max_inflight), replica.log());
  EXPECT_TRUE(replica.reports_idle()) << replica.status() << "\n" << replica.log();
}

INSTANTIATE_TEST_SUITE_P(Sources, RedisRestart,
                         ::testing::Values(SourceKind::kRedisStream, SourceKind::kRedisList),
                         source_param_name);
INSTANTIATE_TEST_SUITE_P(Sources, QueueOutage, ::testing::ValuesIn(kEverySource),
                         source_param_name);

}  // namespace
}  // namespace triggerd::testing
