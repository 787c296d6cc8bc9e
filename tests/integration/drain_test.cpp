// The graceful drain on SIGTERM (docs/delivery.md), end to end: the real triggerd binary with
// events in flight to a slow function (FunctionStub), watched through /readyz, the webhook,
// the function's side, the exit code and the log.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <string>
#include <vector>

#include "tests/integration/end_to_end.hpp"

namespace triggerd::testing {
namespace {

using std::chrono::steady_clock;
using ::testing::HasSubstr;

constexpr int kEvents = 3;

std::string slow_function_config(const FunctionStub& stub) {
  return one_function(stub, "    timeout: 10s\n") + hook_trigger("{retries: 0}");
}

class Drain : public EndToEndTest {
 protected:
  // Posts kEvents events and waits until the function holds all of them.
  void put_events_in_flight() {
    for (int i = 0; i < kEvents; ++i) {
      ASSERT_EQ(post("/hooks/orders", body(i)).status, 202) << i;
    }
    ASSERT_TRUE(wait_until([&] { return stub_.current_concurrent() == kEvents; }, kEventually))
        << log();
  }

  static std::string body(int i) { return "in flight " + std::to_string(i); }

  // Polls /readyz after a SIGTERM sent at `signalled` until it answers 503; the time it took.
  long long ms_until_not_ready(steady_clock::time_point signalled) {
    const bool not_ready =
        wait_until([&] { return http_get(triggerd_->admin_port(), "/readyz").status == 503; },
                   milliseconds(2000));
    EXPECT_TRUE(not_ready) << log();
    return elapsed_ms(signalled, steady_clock::now());
  }
};

TEST_F(Drain, SigtermTurnsNotReadyAtOnceAndDeliversTheEventsInFlightBeforeExitingZero) {
  constexpr milliseconds kFunctionTakes(1000);
  stub_.always(200, kFunctionTakes);
  start(slow_function_config(stub_), "  shutdown_timeout: 5s\n");
  ASSERT_EQ(http_get(triggerd_->admin_port(), "/readyz").status, 200);
  put_events_in_flight();

  const auto signalled = steady_clock::now();
  triggerd_->process().send_signal(SIGTERM);
  EXPECT_LE(ms_until_not_ready(signalled), 100);
  // Still draining: the function has not answered yet.
  EXPECT_TRUE(triggerd_->process().running());
  EXPECT_EQ(http_get(triggerd_->admin_port(), "/livez").status, 200);
  // And taking no new events: refused, or answered 503 so the sender retries elsewhere.
  const HttpResponse late = post("/hooks/orders", "too late");
  EXPECT_NE(late.status, 202) << late.body;

  ASSERT_EQ(triggerd_->process().wait_for_exit(milliseconds(5000)), 0) << log();
  const auto exited = steady_clock::now();
  const std::vector<RecordedRequest> requests = stub_.requests();
  ASSERT_EQ(requests.size(), static_cast<std::size_t>(kEvents)) << "nothing new was taken";
  for (int i = 0; i < kEvents; ++i) {
    EXPECT_EQ(requests[i].body, body(i)) << "the request reached the function whole";
    // The function answers kFunctionTakes after the request; triggerd waited for that.
    EXPECT_GE(exited - requests[i].received_steady, kFunctionTakes) << i;
  }
  EXPECT_THAT(log(), HasSubstr("drain: every in-flight event finished"));
  EXPECT_THAT(log(), ::testing::Not(HasSubstr("shutdown_timeout reached")));
}

TEST_F(Drain, EventWaitingToRetryIsStillDeliveredWithinTheShutdownTimeout) {
  stub_.enqueue_statuses({503, 200});
  start(
      one_function(stub_) + hook_trigger("{retries: 3, backoff: {policy: constant, delay: 500ms}}"),
      "  shutdown_timeout: 5s\n");
  ASSERT_EQ(post("/hooks/orders", "second chance").status, 202);
  ASSERT_TRUE(stub_.wait_for_requests(1, kEventually)) << log();

  triggerd_->process().send_signal(SIGTERM);
  ASSERT_EQ(triggerd_->process().wait_for_exit(milliseconds(3000)), 0) << log();
  ASSERT_EQ(stub_.request_count(), 2u) << "the retry came during the drain";
  EXPECT_EQ(stub_.requests()[1].header("ce-attempt"), "2");
  EXPECT_THAT(log(), HasSubstr("drain: every in-flight event finished"));
}

TEST_F(Drain, ShutdownTimeoutAbandonsWhatIsStillInFlightAndExitsZero) {
  constexpr milliseconds kShutdownTimeout(300);
  stub_.always(200, milliseconds(5000));
  start(slow_function_config(stub_), "  shutdown_timeout: 300ms\n");
  put_events_in_flight();

  const auto signalled = steady_clock::now();
  triggerd_->process().send_signal(SIGTERM);
  EXPECT_LE(ms_until_not_ready(signalled), 100);
  ASSERT_EQ(triggerd_->process().wait_for_exit(milliseconds(3000)), 0) << log();
  const long long took = elapsed_ms(signalled, steady_clock::now());
  EXPECT_GE(took, kShutdownTimeout.count());
  EXPECT_LE(took, kShutdownTimeout.count() + 700);
  // Said plainly, with what it means for webhook events: nobody will send them again.
  EXPECT_THAT(log(), HasSubstr("trigger hook: abandoning " + std::to_string(kEvents) +
                               " event(s) in flight: lost"));
}

TEST_F(Drain, SecondSigtermDuringTheDrainExitsAtOnce) {
  stub_.always(200, milliseconds(10000));
  start(slow_function_config(stub_), "  shutdown_timeout: 20s\n");
  put_events_in_flight();

  triggerd_->process().send_signal(SIGTERM);
  ms_until_not_ready(steady_clock::now());
  const auto second = steady_clock::now();
  triggerd_->process().send_signal(SIGTERM);
  // Exits rather than waiting out the 10 s function or the 20 s timeout, and without a crash
  // on the way out (a signal would show as 128 + N).
  EXPECT_EQ(triggerd_->process().wait_for_exit(milliseconds(2000)), 0) << log();
  EXPECT_LE(elapsed_ms(second, steady_clock::now()), 1000);
  EXPECT_THAT(log(), HasSubstr("drain: second stop signal; trigger hook: abandoning " +
                               std::to_string(kEvents) + " event(s) in flight: lost"));
}

TEST_F(Drain, CronStopsFiringOnceTheDrainStarts) {
  // The tick in flight outlasts the next whole second, when a running schedule would fire.
  stub_.always(200, milliseconds(1500));
  start(one_function(stub_) + R"(  tick:
    function: fn
    source: {type: cron, schedule: "* * * * * *"}
)",
        "  shutdown_timeout: 5s\n");
  ASSERT_TRUE(stub_.wait_for_requests(1, milliseconds(2500))) << log();
  const auto signalled = steady_clock::now();
  triggerd_->process().send_signal(SIGTERM);
  ASSERT_EQ(triggerd_->process().wait_for_exit(milliseconds(5000)), 0) << log();
  EXPECT_GE(elapsed_ms(signalled, steady_clock::now()), 1000) << "the tick in flight was awaited";
  EXPECT_EQ(stub_.request_count(), 1u);
  EXPECT_THAT(log(), HasSubstr("drain: every in-flight event finished"));
}

}  // namespace
}  // namespace triggerd::testing
