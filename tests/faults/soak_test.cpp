// The long variants of the fault cases, run only with TRIGGERD_FAULTS_SOAK=1 (minutes each):
// many more events through repeated kills and restarts, and a function whose network keeps
// changing between every fault the proxy has.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "tests/faults/fault_harness.hpp"
#include "tests/faults/ledger.hpp"
#include "tests/function_stub/function_stub.hpp"
#include "tests/support/fault_proxy.hpp"

namespace triggerd::testing {
namespace {

class Soak : public FaultCase {
 protected:
  void SetUp() override {
    if (!soak_enabled()) GTEST_SKIP() << "set TRIGGERD_FAULTS_SOAK=1 to run the soak variants";
    make_queue();
  }
};

TEST_P(Soak, RepeatedKillsAndRestartsUnderLoadLoseNothing) {
  constexpr int kEvents = 20000;
  constexpr int kKills = 10;
  Ledger ledger = this->ledger("soak: 10 kills -9 mid-flight and restarts");
  function_.always(StubStep::respond(200).with_delay(10ms));
  DeliverySettings settings = this->settings();
  settings.max_inflight = 20;
  queue_->send(ledger.issue(kEvents));
  Replica replica("a", config(settings, "replica-a"));
  std::mt19937 random(12);
  std::uniform_int_distribution<int> pause_ms(0, 500);
  for (int kill = 0; kill < kKills; ++kill) {
    // Each kill comes while the replica delivers (a restarted Kafka member first waits for the
    // killed one's partitions), at a random moment.
    const std::uint64_t before = function_.request_count();
    ASSERT_TRUE(function_.wait_for_requests(before + 200, 60s)) << replica.log();
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(random)));
    replica.kill();
    replica.restart();
  }
  EXPECT_TRUE(accounted(ledger, 180s)) << queue_->describe() << "\n" << replica.log();
  expect_accounted(ledger, static_cast<std::size_t>(kKills * settings.max_inflight), replica.log());
}

TEST_P(Soak, AFunctionBehindAChangingNetworkLosesNothing) {
  constexpr int kEvents = 10000;
  constexpr int kSwitches = 100;
  Ledger ledger = this->ledger("soak: 100 network faults in a row");
  FaultProxy proxy(function_.port());
  function_.always(StubStep::respond(200).with_delay(5ms));
  DeliverySettings settings = this->settings();
  settings.function_url = proxy.url("/fn");
  settings.max_inflight = 20;
  queue_->send(ledger.issue(kEvents));
  Replica replica("a", config(settings, "replica-a"));
  std::mt19937 random(7);
  std::uniform_int_distribution<int> fault(0, 5);
  std::uniform_int_distribution<int> pause_ms(100, 800);
  for (int i = 0; i < kSwitches; ++i) {
    switch (fault(random)) {
      case 0:
        proxy.pass();
        break;
      case 1:
        proxy.add_latency(std::chrono::milliseconds(pause_ms(random)));
        break;
      case 2:
        proxy.reset_after(16);
        break;
      case 3:
        proxy.black_hole();
        break;
      case 4:
        proxy.refuse();
        proxy.cut();
        break;
      default:
        proxy.cut();
        break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(random)));
  }
  proxy.pass();
  EXPECT_TRUE(accounted(ledger, 180s)) << queue_->describe() << "\n" << replica.log();
  // A black hole, a cut or a reset can take an answer the function already gave: each switch
  // may repeat what was in flight.
  expect_accounted(ledger, static_cast<std::size_t>(kSwitches * settings.max_inflight),
                   replica.log());
}

INSTANTIATE_TEST_SUITE_P(Sources, Soak, ::testing::ValuesIn(kEverySource), source_param_name);

}  // namespace
}  // namespace triggerd::testing
