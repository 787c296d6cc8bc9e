#pragma once
// Whether a function is being woken from zero replicas (docs/autoscaling.md).
//
// A function that scales to zero refuses connections (or its gateway answers 503) until a
// replica has started, which takes seconds to minutes. Those failures say nothing about the
// event, so while the function is being woken they do not use up the event's retries: the
// event waits (backoff capped at 1 s) and goes the moment the function answers. Being woken
// means: the event's trigger is active, the trigger may scale to zero (min_replicas 0), and the
// function has answered nothing since its triggers last became active; it lasts at most the
// trigger's activation_timeout from the first such failure. A function that answered and then
// fails is failing, not waking: its events retry and dead-letter as usual.
//
// One per function, on the event loop's thread.
#include <chrono>
#include <optional>
#include <vector>

namespace triggerd {

// The longest wait between attempts while the function is being woken: it should get the
// event soon after it is up, and a waiting event costs only a timer.
inline constexpr std::chrono::milliseconds kWakeBackoffCap{1000};

// An event waiting for its function to wake; woken early when the function answers.
class WakeWaiter {
 public:
  virtual void wake_now() = 0;

 protected:
  ~WakeWaiter() = default;
};

class FunctionWake {
 public:
  using Clock = std::chrono::steady_clock;

  // What should_wait() found, for the log lines of a wake's start and end.
  enum class Decision {
    kRetry,           // not being woken: the failure uses a retry as usual
    kWaitFirst,       // the first failure of a wake: it starts now
    kWait,            // still being woken
    kTimedOut,        // activation_timeout has just run out: retries count from now on
  };

  // Its triggers went from all idle to active: a replica may have to start first.
  void activated();
  // The function answered (any status but 503): it is up. Events waiting go now.
  void answered();
  // A connection error or 503 on an event of an active trigger that may scale to zero.
  Decision should_wait(Clock::time_point now, std::chrono::milliseconds activation_timeout);

  void add_waiter(WakeWaiter& waiter);
  void remove_waiter(WakeWaiter& waiter);

  // Since when the current wake runs (for the log line that ends it).
  std::optional<Clock::time_point> waking_since() const { return waking_since_; }

 private:
  bool answered_ = false;   // since the last activation
  bool timed_out_ = false;  // the current wake ran past activation_timeout
  std::optional<Clock::time_point> waking_since_;
  std::vector<WakeWaiter*> waiters_;
};

}  // namespace triggerd
