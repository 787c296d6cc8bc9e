#pragma once
// The backstop of the one shutdown deadline. The graceful stop bounds every step it awaits, but
// a client library stuck inside a call (a synchronous commit to a broker that is gone, a DNS
// lookup) or a blocked event loop would still keep the process alive. Once armed, a thread of
// its own waits for the deadline; if the process is still there then, it logs why and ends it
// with exit status 0 (a drain that ran out of time: what was not acknowledged stays at its
// source and is delivered again), without running destructors that could hang too.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

namespace triggerd {

class TeardownWatchdog {
 public:
  TeardownWatchdog() = default;
  ~TeardownWatchdog();  // disarm()
  TeardownWatchdog(const TeardownWatchdog&) = delete;
  TeardownWatchdog& operator=(const TeardownWatchdog&) = delete;

  // Ends the process at `deadline` unless disarmed first. Arming again only ever brings the
  // deadline closer. Any thread.
  void arm(std::chrono::steady_clock::time_point deadline);

 private:
  // The teardown finished in time (the owner is being destroyed): the watchdog stands down.
  void disarm();
  void watch();

  std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
  bool disarmed_ = false;
  std::thread thread_;
};

}  // namespace triggerd
