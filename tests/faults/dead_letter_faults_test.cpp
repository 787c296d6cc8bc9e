// A dead letter that fails, for each queue source: one that is down for a while (connections
// refused through the fault proxy) and then back, which must lose nothing; and one that
// refuses every write for good (400), which must not wedge the trigger: the events it refuses
// are dropped, counted, and acknowledged, and the events after them are delivered.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "tests/faults/fault_harness.hpp"
#include "tests/faults/ledger.hpp"
#include "tests/function_stub/function_stub.hpp"
#include "tests/support/fault_proxy.hpp"
#include "tests/support/process.hpp"

namespace triggerd::testing {
namespace {

bool never_ok(std::size_t) { return false; }

class DeadLetterFaults : public FaultCase {
 protected:
  void SetUp() override { make_queue(); }

  std::unique_ptr<Replica> start_replica(const std::string& dead_letter_url) const {
    DeliverySettings settings = this->settings();
    settings.dead_letter_url = dead_letter_url;
    return FaultCase::start_replica(settings);
  }

  FunctionStub dead_letter_;
};

TEST_P(DeadLetterFaults, ADeadLetterDownForAWhileLosesNothingOnceItIsBack) {
  Ledger ledger = this->ledger("dead letter down, then back");
  function_.always(400);  // every event is rejected for good: all go to the dead letter
  FaultProxy proxy(dead_letter_.port());
  proxy.refuse();
  auto replica = start_replica(proxy.url("/dlq"));
  queue_->send(ledger.issue(30));
  // The trigger fills up with events waiting for the dead letter.
  ASSERT_TRUE(function_.wait_for_requests(10, 15s)) << replica->log();
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(dead_letter_.request_count(), 0u);

  proxy.pass();
  EXPECT_TRUE(wait_until_accounted(
      ledger, *queue_,
      [&] {
        ledger.function_saw(function_.requests(), never_ok);
        ledger.dead_letter_saw(dead_letter_.requests());
      },
      40s))
      << queue_->describe() << "\n"
      << replica->log();
  expect_accounted(ledger, 0, replica->log());
  EXPECT_EQ(ledger.tally().dead_lettered, 30u);
  EXPECT_EQ(replica->metric("triggerd_events_dead_lettered_total"), 30.0);
  EXPECT_GT(
      replica->metric("triggerd_dead_letter_failures_total", "reason=\"temporary\"").value_or(0), 0)
      << "the failed writes are counted";
}

TEST_P(DeadLetterFaults, ADeadLetterRefusingForGoodDropsAndCountsAndTheTriggerKeepsFlowing) {
  Ledger ledger = this->ledger("dead letter refusing for good");
  // The function rejects the first 20 requests (not retried: to the dead letter, which
  // refuses each of them for good) and takes everything after. More than max_inflight (10)
  // are refused, so a trigger that kept them would be stuck.
  constexpr std::size_t kRejected = 20;
  for (std::size_t i = 0; i < kRejected; ++i) function_.enqueue(StubStep::respond(400));
  dead_letter_.always(400);
  auto replica = start_replica(dead_letter_.url("/dlq"));
  queue_->send(ledger.issue(40));

  EXPECT_TRUE(wait_until_accounted(
      ledger, *queue_,
      [&] {
        ledger.function_saw(function_.requests(),
                            [&](std::size_t index) { return index >= kRejected; });
        ledger.dead_letter_saw(dead_letter_.requests(), never_ok);
      },
      30s))
      << queue_->describe() << "\n"
      << replica->log();
  expect_accounted(ledger, 0, replica->log());
  const Tally tally = ledger.tally();
  EXPECT_EQ(tally.dropped, kRejected);
  EXPECT_EQ(tally.delivered, 40 - kRejected);
  EXPECT_EQ(replica->metric("triggerd_events_dropped_total", "reason=\"dead_letter_failed\""),
            static_cast<double>(kRejected));
  EXPECT_EQ(replica->metric("triggerd_dead_letter_failures_total", "reason=\"permanent\""),
            static_cast<double>(dead_letter_.request_count()))
      << "each refused write is counted";
  EXPECT_EQ(replica->metric("triggerd_inflight_events"), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Sources, DeadLetterFaults, ::testing::ValuesIn(kEverySource),
                         source_param_name);

}  // namespace
}  // namespace triggerd::testing
