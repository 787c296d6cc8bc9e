#include "dispatcher/function_wake.hpp"

#include <algorithm>

namespace triggerd {

void FunctionWake::activated() {
  answered_ = false;
  timed_out_ = false;
  waking_since_.reset();
}

void FunctionWake::answered() {
  if (answered_ && waiters_.empty()) return;  // every answer of a running function comes here
  answered_ = true;
  timed_out_ = false;
  waking_since_.reset();
  // Moved out first: a woken waiter removes itself (later, from its timer's handler), and
  // waiters that come while these are woken belong to nobody's wake.
  std::vector<WakeWaiter*> waiting;
  waiting.swap(waiters_);
  for (WakeWaiter* waiter : waiting) waiter->wake_now();
}

FunctionWake::Decision FunctionWake::should_wait(Clock::time_point now,
                                                 std::chrono::milliseconds activation_timeout) {
  if (answered_ || timed_out_ || activation_timeout <= std::chrono::milliseconds::zero()) {
    return Decision::kRetry;
  }
  if (!waking_since_) {
    waking_since_ = now;
    return Decision::kWaitFirst;
  }
  if (now - *waking_since_ < activation_timeout) return Decision::kWait;
  timed_out_ = true;
  return Decision::kTimedOut;
}

void FunctionWake::add_waiter(WakeWaiter& waiter) { waiters_.push_back(&waiter); }

void FunctionWake::remove_waiter(WakeWaiter& waiter) {
  auto it = std::find(waiters_.begin(), waiters_.end(), &waiter);
  if (it != waiters_.end()) {
    *it = waiters_.back();
    waiters_.pop_back();
  }
}

}  // namespace triggerd
