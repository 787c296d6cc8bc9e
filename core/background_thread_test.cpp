#include "core/background_thread.hpp"

#include <gtest/gtest.h>
#include <sched.h>

#include <thread>

namespace triggerd {
namespace {

TEST(BackgroundThread, RunsInTheBatchPolicyAndLeavesOtherThreadsAlone) {
  int policy_inside = -1;
  bool made = false;
  std::thread thread([&] {
    made = make_background_thread();
    policy_inside = ::sched_getscheduler(0);
  });
  thread.join();
  ASSERT_TRUE(made);
  EXPECT_EQ(policy_inside, SCHED_BATCH);
  EXPECT_EQ(::sched_getscheduler(0), SCHED_OTHER);  // the caller (the event loop's) is unchanged
}

}  // namespace
}  // namespace triggerd
