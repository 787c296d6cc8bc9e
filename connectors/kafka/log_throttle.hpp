#pragma once
// At most one log line per interval for a failure that can repeat many times a second (a
// commit to a broker that is gone is retried every 100 ms): the first occurrence is logged at
// once, later ones only count, and the next line that goes out says how many were not logged.
// The counter that goes with each occurrence is kept by the caller. Not thread-safe.
#include <chrono>
#include <cstdint>
#include <optional>

namespace triggerd::kafka {

class LogThrottle {
 public:
  explicit LogThrottle(std::chrono::steady_clock::duration interval) : interval_(interval) {}

  // Whether to log this occurrence now; if so, `suppressed` gets how many were not logged
  // since the last line.
  bool should_log(std::chrono::steady_clock::time_point now, std::uint64_t& suppressed) {
    if (next_ && now < *next_) {
      ++suppressed_;
      return false;
    }
    suppressed = suppressed_;
    suppressed_ = 0;
    next_ = now + interval_;
    return true;
  }

 private:
  std::chrono::steady_clock::duration interval_;
  std::optional<std::chrono::steady_clock::time_point> next_;
  std::uint64_t suppressed_ = 0;
};

}  // namespace triggerd::kafka
