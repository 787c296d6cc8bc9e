#pragma once
// What a source says waits at it, not yet taken (Source::queue_depth): published on the
// source's own loop, both here (read from any thread) and on its trigger's state (/metrics).
// Unknown until the first publish.
#include <atomic>
#include <cstdint>
#include <optional>

#include "core/metrics.hpp"

namespace triggerd::redis {

class QueueDepth {
 public:
  // `state` must outlive this object.
  explicit QueueDepth(TriggerState& state) : state_(state) {}

  void publish(std::int64_t depth) {
    depth_.store(depth, std::memory_order_relaxed);
    state_.set_queue_depth(depth);
  }

  std::optional<std::int64_t> get() const {
    const std::int64_t depth = depth_.load(std::memory_order_relaxed);
    if (depth < 0) return std::nullopt;
    return depth;
  }

 private:
  TriggerState& state_;
  std::atomic<std::int64_t> depth_{-1};
};

}  // namespace triggerd::redis
