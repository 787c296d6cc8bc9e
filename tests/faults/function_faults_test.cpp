// A function that fails for a while, for each queue source: connections refused, connections
// reset before a request gets through, a network black hole (requests swallowed past the
// timeout), a function that takes requests and hangs past the timeout, and storms of 503.
// Network faults go through the TCP fault proxy between triggerd and the function stub. Every
// event must be delivered once the function is back: nothing lost, and since the function never
// did the work of a failed attempt, nothing delivered twice.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
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

class FunctionFaults : public FaultCase {
 protected:
  void SetUp() override { make_queue(); }

  // A replica whose function is reached through the proxy.
  std::unique_ptr<Replica> start_replica() const {
    DeliverySettings settings = this->settings();
    settings.function_url = proxy_.url("/fn");
    return FaultCase::start_replica(settings);
  }

  double attempts(Replica& replica, const std::string& result) {
    return replica.metric("triggerd_delivery_attempts_total", "result=\"" + result + "\"")
        .value_or(-1);
  }

  // With the proxy already failing the function's connections (the ledger's `fault`): `events`
  // events, until `failing` says the fault showed, and none reached the function. Then the proxy
  // lets them through, and every event is delivered once.
  void expect_retried_until_the_proxy_passes(const std::string& fault, int events,
                                             const std::function<bool(Replica&)>& failing) {
    Ledger ledger = this->ledger(fault);
    auto replica = start_replica();
    queue_->send(ledger.issue(events));
    EXPECT_TRUE(wait_until([&] { return failing(*replica); }, 15s)) << replica->log();
    EXPECT_EQ(function_.request_count(), 0u);

    proxy_.pass();
    EXPECT_TRUE(accounted(ledger)) << queue_->describe() << "\n" << replica->log();
    expect_accounted(ledger, 0, replica->log());
  }

  FaultProxy proxy_{function_.port()};
};

TEST_P(FunctionFaults, RefusedConnectionsAreRetriedUntilTheFunctionIsBack) {
  proxy_.refuse();
  expect_retried_until_the_proxy_passes("function refusing connections", 50, [&](Replica& replica) {
    return attempts(replica, "connect_error") >= 20;
  });
}

TEST_P(FunctionFaults, ConnectionsResetMidRequestAreRetriedUntilTheyGetThrough) {
  // 16 bytes: the request line at most, never a whole request.
  proxy_.reset_after(16);
  expect_retried_until_the_proxy_passes("function connections reset", 50,
                                        [&](Replica&) { return proxy_.stats().resets >= 20; });
}

TEST_P(FunctionFaults, ANetworkBlackHoleTimesOutAndIsRetriedOnceItCloses) {
  proxy_.black_hole();
  expect_retried_until_the_proxy_passes(
      "network black hole past the timeout", 30,
      [&](Replica& replica) { return attempts(replica, "timeout") >= 10; });
}

TEST_P(FunctionFaults, AFunctionHangingPastTheTimeoutIsRetried) {
  Ledger ledger = this->ledger("function hanging past the timeout");
  constexpr std::size_t kHung = 15;
  for (std::size_t i = 0; i < kHung; ++i) function_.enqueue(StubStep::hang());
  auto replica = start_replica();
  queue_->send(ledger.issue(30));

  EXPECT_TRUE(accounted(ledger, 40s, [&](std::size_t index) { return index >= kHung; }))
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

  EXPECT_TRUE(
      accounted(ledger, 40s,
                [&](std::size_t index) { return index >= script.size() || script[index] == 200; }))
      << queue_->describe() << "\n"
      << replica->log();
  expect_accounted(ledger, 0, replica->log());
  EXPECT_EQ(attempts(*replica, "5xx"), 75.0);
}

INSTANTIATE_TEST_SUITE_P(Sources, FunctionFaults, ::testing::ValuesIn(kEverySource),
                         source_param_name);

}  // namespace
}  // namespace triggerd::testing
