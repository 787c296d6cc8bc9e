#include "dispatcher/function_wake.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace triggerd {
namespace {

using namespace std::chrono_literals;
using Decision = FunctionWake::Decision;

struct CountingWaiter final : WakeWaiter {
  CountingWaiter() = default;
  CountingWaiter(const CountingWaiter&) = delete;
  virtual ~CountingWaiter() = default;
  void wake_now() override { ++woken; }
  int woken = 0;
};

const FunctionWake::Clock::time_point t0{};

TEST(FunctionWake, AFunctionThatNeverAnsweredIsWokenUntilTheTimeoutRunsOut) {
  FunctionWake wake;
  EXPECT_EQ(wake.should_wait(t0, 2min), Decision::kWaitFirst);
  EXPECT_EQ(wake.should_wait(t0 + 119s, 2min), Decision::kWait);
  EXPECT_EQ(wake.should_wait(t0 + 120s, 2min), Decision::kTimedOut);
  EXPECT_EQ(wake.should_wait(t0 + 121s, 2min), Decision::kRetry) << "said once, then retries";
}

TEST(FunctionWake, AFunctionThatAnsweredIsFailingNotWaking) {
  FunctionWake wake;
  wake.answered();
  EXPECT_EQ(wake.should_wait(t0, 2min), Decision::kRetry);
}

TEST(FunctionWake, BecomingActiveAgainStartsANewWake) {
  FunctionWake wake;
  wake.answered();
  wake.activated();
  EXPECT_EQ(wake.should_wait(t0, 2min), Decision::kWaitFirst);
  EXPECT_EQ(wake.should_wait(t0 + 3min, 2min), Decision::kTimedOut);
  wake.activated();
  EXPECT_EQ(wake.should_wait(t0 + 4min, 2min), Decision::kWaitFirst) << "timed out once";
}

TEST(FunctionWake, ZeroTimeoutTurnsWakingOff) {
  FunctionWake wake;
  EXPECT_EQ(wake.should_wait(t0, 0ms), Decision::kRetry);
}

TEST(FunctionWake, AnAnswerWakesEveryWaiterOnceAndForgetsThem) {
  FunctionWake wake;
  CountingWaiter first, second, gone;
  wake.add_waiter(first);
  wake.add_waiter(gone);
  wake.add_waiter(second);
  wake.remove_waiter(gone);
  wake.answered();
  EXPECT_EQ(first.woken, 1);
  EXPECT_EQ(second.woken, 1);
  EXPECT_EQ(gone.woken, 0);
  wake.answered();
  EXPECT_EQ(first.woken, 1) << "no longer waiting";
}

}  // namespace
}  // namespace triggerd
