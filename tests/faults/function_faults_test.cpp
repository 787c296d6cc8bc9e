// A function that fails for a while, for each queue source: connections refused, connections
// reset before a request gets through, a network black hole (requests swallowed past the
// timeout), a function that takes requests and hangs past the timeout, and storms of 503.
// Network faults go through the TCP fault proxy between triggerd and the function stub. Every
// event must be delivered once the function is back: nothing lost, and since the function never
// did the work of a failed attempt, nothing delivered twice.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "tests/faults/fault_harness.hpp"
#include "tests/faults/ledger.hpp"
#include "tests/function_stub/function_stub.hpp"
#include "tests/support/fault_proxy.hpp"
#include "tests/support/process.hpp"

namespace triggerd::testing {
namespace {

class FunctionFaults : public ::testing::TestWithParam<SourceKind> {
 protected:
  void SetUp() override { queue_ = Queue::make(GetParam()); }

  Ledger ledger(const std::string& fault) const { return Ledger(source_type(GetParam()), fault); }

  // A replica whose function is reached through the proxy.
  std::unique_ptr<Replica> start_replica() {
    DeliverySettings settings;
    settings.function_url = proxy_.url("/fn");
    return std::make_unique<Replica>("a", replica_config(*queue_, settings, "replica-a"));
  }

  double attempts(Replica& replica, const std::string& result) {
    return replica.metric("triggerd_delivery_attempts_total", "result=\"" + result + "\"")
        .value_or(-1);
  }

  // Waits until the events are all delivered and acknowledged; `ok` says which of the
  // function's requests (by arrival) it answered 2xx.
  bool accounted(Ledger& ledger, const Ledger::AnsweredOk& ok = Ledger::always_ok) {
    return wait_until_accounted(
        ledger, *queue_, [&] { ledger.function_saw(function_.requests(), ok); }, 40s);
  }

  FunctionStub function_;
  FaultProxy proxy_{function_.port()};
  std::unique_ptr<Queue> queue_;
};

TEST_P(FunctionFaults, RefusedConnectionsAreRetriedUntilTheFunctionIsBack) {
  Ledger ledger = this->ledger("function refusing connections");
  proxy_.refuse();
  auto replica = start_replica();
  queue_->send(ledger.issue(50));
  EXPECT_TRUE(wait_until([&] { return attempts(*replica, "connect_error") >= 20; }, 15s))
      << replica->log();
  EXPECT_EQ(function_.request_count(), 0u);

  proxy_.pass();
  EXPECT_TRUE(accounted(ledger)) << queue_->describe() << "\n" << replica->log();
  expect_accounted(ledger, 0, replica->log());
}

TEST_P(FunctionFaults, ConnectionsResetMidRequestAreRetriedUntilTheyGetThrough) {
  Ledger ledger = this->ledger("function connections reset");
  // 16 bytes: the request line at most, never a whole request.
  proxy_.reset_after(16);
  auto replica = start_replica();
  queue_->send(ledger.issue(50));
  EXPECT_TRUE(wait_until([&] { return proxy_.stats().resets >= 20; }, 15s)) << replica->log();
  EXPECT_EQ(function_.request_count(), 0u);

  proxy_.pass();
  EXPECT_TRUE(accounted(ledger)) << queue_->describe() << "\n" << replica->log();
  expect_accounted(ledger, 0, replica->log());
}

TEST_P(FunctionFaults, ANetworkBlackHoleTimesOutAndIsRetriedOnceItCloses) {
  Ledger ledger = this->ledger("network black hole past the timeout");
  proxy_.black_hole();
  auto replica = start_replica();
  queue_->send(ledger.issue(30));
  EXPECT_TRUE(wait_until([&] { return attempts(*replica, "timeout") >= 10; }, 15s))
      << replica->log();
  EXPECT_EQ(function_.request_count(), 0u);

  proxy_.pass();
  EXPECT_TRUE(accounted(ledger)) << queue_->describe() << "\n" << replica->log();
  expect_accounted(ledger, 0, replica->log());
}

TEST_P(FunctionFaults, AFunctionHangingPastTheTimeoutIsRetried) {
  Ledger ledger = this->ledger("function hanging past the timeout");
  constexpr std::size_t kHung = 15;
  for (std::size_t i = 0; i < kHung; ++i) function_.enqueue(StubStep::hang());
  auto replica = start_replica();
  queue_->send(ledger.issue(30));

  EXPECT_TRUE(accounted(ledger, [&](std::size_t index) { return index >= kHung; }))
      << queue_->describe() << "\n"
      << replica->log();
  expect_accounted(ledger, 0, replica->log());
  EXPECT_EQ(attempts(*replica, "timeout"), static_cast<double>(kHung));
}

TEST_P(FunctionFaults, StormsOf503AreRetriedAndEveryEventIsDeliveredOnce) {
  Ledger ledger = this->ledger("function answering 503 storms");
  // Three storms of 25 answers 503 (every other one asking to retry after 1 s, which
  // backoff.max caps at 50 ms), with 10 answers 200 between them.
  std::vector<int> script;
  for (int storm = 0; storm < 3; ++storm) {
    for (int i = 0; i < 25; ++i) {
      function_.enqueue(i % 2 == 0 ? StubStep::respond(503).with_header("Retry-After", "1")
                                   : StubStep::respond(503));
      script.push_back(503);
    }
    for (int i = 0; i < 10; ++i) {
      function_.enqueue(StubStep::respond(200));
      script.push_back(200);
    }
  }
  auto replica = start_replica();
  queue_->send(ledger.issue(60));

  EXPECT_TRUE(accounted(
      ledger, [&](std::size_t index) { return index >= script.size() || script[index] == 200; }))
      << queue_->describe() << "\n"
      << replica->log();
  expect_accounted(ledger, 0, replica->log());
  EXPECT_EQ(attempts(*replica, "5xx"), 75.0);
}

INSTANTIATE_TEST_SUITE_P(Sources, FunctionFaults,
                         ::testing::Values(SourceKind::kRedisStream, SourceKind::kRedisList,
                                           SourceKind::kKafka),
                         source_param_name);

}  // namespace
}  // namespace triggerd::testing
