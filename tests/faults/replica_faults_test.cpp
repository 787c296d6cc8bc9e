// Fault cases around the replicas themselves, for each queue source: a replica killed with
// events in flight, drained with SIGTERM while slow events are in flight, two replicas sharing
// a queue with a slow function, and one of two replicas killed for good. Every event is
// accounted for by its payload id (tests/faults/ledger.hpp).
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "tests/faults/fault_harness.hpp"
#include "tests/faults/ledger.hpp"
#include "tests/function_stub/function_stub.hpp"

namespace triggerd::testing {
namespace {

// Each case starts by making its queue, with the options it needs.
class ReplicaFaults : public FaultCase {
 protected:
  // Kafka: waits until both replicas hold their share of the topic's partitions, so that no
  // rebalance comes while events are in flight. Redis sources need no wait.
  void wait_for_shares(Replica& a, Replica& b) {
    if (GetParam() != SourceKind::kKafka) return;
    ASSERT_TRUE(wait_for_log(a, "assigned 2 partitions", 30s)) << a.log();
    ASSERT_TRUE(wait_for_log(b, "assigned 2 partitions", 30s)) << b.log();
  }
};

TEST_P(ReplicaFaults, KillNineMidFlightLosesNothingAndRepeatsAtMostWhatWasInFlight) {
  make_queue();
  Ledger ledger = this->ledger("kill -9 mid-flight, restart");
  function_.always(StubStep::respond(200).with_delay(300ms));
  const DeliverySettings settings = this->settings();  // max_inflight 10
  queue_->send(ledger.issue(100));
  Replica replica("a", config(settings, "replica-a"));
  ASSERT_TRUE(function_.wait_for_requests(25, 30s)) << replica.log();
  std::this_thread::sleep_for(150ms);  // half way through the function's 300 ms
  replica.kill();

  function_.always(200);
  replica.restart();
  EXPECT_TRUE(accounted(ledger)) << queue_->describe() << "\n" << replica.log();
  // Only what the killed process held in flight may come again.
  expect_accounted(ledger, static_cast<std::size_t>(settings.max_inflight), replica.log());
  // What an autoscaler reads once all is done: nothing left (a wrong depth would keep the
  // function up for good).
  EXPECT_TRUE(replica.reports_idle()) << replica.status() << "\n" << replica.log();
}

TEST_P(ReplicaFaults, SigtermWithSlowEventsInFlightFinishesThemAndTheRestartRepeatsNothing) {
  make_queue();
  Ledger ledger = this->ledger("SIGTERM with slow events in flight, restart");
  function_.always(StubStep::respond(200).with_delay(800ms));
  DeliverySettings settings = this->settings();
  settings.function_timeout = "3s";
  settings.shutdown_timeout = "5s";
  queue_->send(ledger.issue(40));
  Replica replica("a", config(settings, "replica-a"));
  ASSERT_TRUE(function_.wait_for_requests(15, 30s)) << replica.log();

  // Everything in flight finishes well inside the shutdown timeout and is acknowledged.
  EXPECT_EQ(replica.terminate(10s), 0) << replica.log();
  function_.always(200);
  replica.restart();
  EXPECT_TRUE(accounted(ledger)) << queue_->describe() << "\n" << replica.log();
  expect_accounted(ledger, 0, replica.log());
  // What an autoscaler reads once all is done: nothing left (a wrong depth would keep the
  // function up for good).
  EXPECT_TRUE(replica.reports_idle()) << replica.status() << "\n" << replica.log();
}

TEST_P(ReplicaFaults, AReloadThatRestartsTheTriggerUnderLoadLosesAndRepeatsNothing) {
  make_queue();
  Ledger ledger = this->ledger("reload under load: the trigger's source restarted");
  function_.always(StubStep::respond(200).with_delay(100ms));
  DeliverySettings settings = this->settings();  // max_inflight 10
  queue_->send(ledger.issue(100));
  Replica replica("a", config(settings, "replica-a"));
  ASSERT_TRUE(function_.wait_for_requests(25, 30s)) << replica.log();

  // A dead letter is one the running version cannot take: it drains (its events in flight
  // finish and are acknowledged) and closes its source, then the new version reads on.
  settings.dead_letter_url = function_.url("/dead-letter");
  ASSERT_TRUE(replica.reload(config(settings, "replica-a"))) << replica.log();
  EXPECT_TRUE(accounted(ledger)) << queue_->describe() << "\n" << replica.log();
  expect_accounted(ledger, 0, replica.log());
  EXPECT_TRUE(replica.reports_idle()) << replica.status() << "\n" << replica.log();
  EXPECT_NE(replica.log().find("trigger faults changed: draining"), std::string::npos)
      << replica.log();
}

TEST_P(ReplicaFaults, TwoReplicasWithASlowFunctionDeliverEachEventOnce) {
  // redis-stream: claim_idle at its minimum, and a function four times slower. A replica's
  // entries are pending in its name all the while it delivers them; the other replica, idle
  // and claiming every half second, must leave them alone.
  make_queue(QueueOptions{.claim_idle = "1s"});
  Ledger ledger = this->ledger("two replicas, function slower than claim_idle");
  function_.always(StubStep::respond(200).with_delay(4s));
  DeliverySettings settings = this->settings();
  settings.function_timeout = "6s";
  settings.max_inflight = 5;
  Replica a("a", config(settings, "replica-a", true));
  Replica b("b", config(settings, "replica-b", true));
  wait_for_shares(a, b);
  queue_->send(ledger.issue(10));

  EXPECT_TRUE(accounted(ledger, 60s)) << queue_->describe() << "\n" << a.log() << b.log();
  expect_accounted(ledger, 0, a.log() + b.log());
  EXPECT_TRUE(a.reports_idle()) << a.status();
  EXPECT_TRUE(b.reports_idle()) << b.status();
  if (GetParam() == SourceKind::kKafka) {
    // Each holds two of the four partitions, so each has events of its own to deliver.
    EXPECT_GT(a.metric("triggerd_events_delivered_total").value_or(0), 0) << "both took part";
    EXPECT_GT(b.metric("triggerd_events_delivered_total").value_or(0), 0) << "both took part";
  }
}

TEST_P(ReplicaFaults, OneOfTwoReplicasKilledForGoodTheOtherFinishesItsWork) {
  make_queue();
  Ledger ledger = this->ledger("one of two replicas killed for good");
  function_.always(StubStep::respond(200).with_delay(300ms));
  const DeliverySettings settings = this->settings();
  Replica a("a", config(settings, "replica-a", true));
  Replica b("b", config(settings, "replica-b", true));
  wait_for_shares(a, b);
  queue_->send(ledger.issue(120));
  ASSERT_TRUE(function_.wait_for_requests(40, 30s)) << a.log() << b.log();
  ASSERT_TRUE(wait_until([&] { return a.metric("triggerd_inflight_events").value_or(0) > 0; }, 5s))
      << "the replica to kill has events in flight";
  std::this_thread::sleep_for(150ms);
  a.kill();

  function_.always(200);
  EXPECT_TRUE(accounted(ledger, 60s)) << queue_->describe() << "\n" << a.log() << b.log();
  // Only what the killed replica held in flight may come again.
  expect_accounted(ledger, static_cast<std::size_t>(settings.max_inflight), a.log() + b.log());
  EXPECT_TRUE(b.reports_idle()) << b.status() << "\n" << b.log();
}

INSTANTIATE_TEST_SUITE_P(Sources, ReplicaFaults, ::testing::ValuesIn(kEverySource),
                         source_param_name);

}  // namespace
}  // namespace triggerd::testing
