#pragma once
// What to do after an attempt (docs/delivery.md) and how long to wait before the next one.
// Pure functions: no clock, no randomness of their own, so every rule is unit-tested.
#include <chrono>
#include <concepts>
#include <optional>
#include <random>
#include <string_view>

#include "config/config.hpp"
#include "core/metrics.hpp"
#include "dispatcher/call_result.hpp"

namespace triggerd {

enum class Verdict {
  delivered,  // 2xx
  retry,      // 404, 408, 409, 429, 5xx, timeout, connection errors
  reject,     // any other status: the function will not take this event, however often asked
};

Verdict classify_status(int status);
// A cancelled call is not the endpoint's fault and gets `retry`; the caller checks for
// cancellation before asking.
Verdict classify(const CallResult& result);

// The `result` label of an attempt in triggerd_delivery_attempts_total. A function should not
// answer 1xx or 3xx to a POST; such an answer is rejected like a 4xx (it is not retried), so it
// is counted with them.
AttemptResult attempt_result(const CallResult& result);

// What a function says while no replica of it runs yet (dispatcher/function_wake.hpp): nobody
// listens, or its gateway (an activator, an ingress) answers 503 until one does. A refused
// certificate is not that.
bool is_wake_failure(const CallResult& result);

// The most the wait after failed attempt `attempt` (1, 2, ...) may last: exponential
// delay·2^(attempt-1), linear delay·attempt, constant delay; never above backoff.max.
config::Duration backoff_ceiling(const config::Backoff& backoff, int attempt);

// Full jitter: `fraction` of `ceiling`, where fraction is a uniform draw from [0, 1].
config::Duration full_jitter(config::Duration ceiling, double fraction);

// The wait after failed attempt `attempt`: uniform in [0, backoff_ceiling]. Full jitter spreads
// the retries of many events that failed together, so a recovering function is not hit by a
// synchronised wave. `random` is any standard generator; tests pass a fixed one.
template <std::uniform_random_bit_generator Random>
config::Duration backoff_delay(const config::Backoff& backoff, int attempt, Random& random) {
  constexpr auto kLow = Random::min();
  constexpr auto kSpan = static_cast<double>(Random::max() - kLow);
  const double fraction = kSpan > 0 ? static_cast<double>(random() - kLow) / kSpan : 0.0;
  return full_jitter(backoff_ceiling(backoff, attempt), fraction);
}

// A Retry-After header (delta-seconds or HTTP-date) parsed into a wait, relative to `now`
// for a date; a date in the past is no wait. nullopt when absent or malformed.
std::optional<config::Duration> parse_retry_after(std::string_view value,
                                                  std::chrono::system_clock::time_point now);

// The function's own word on when to come back: Retry-After on a 429 or a 503, capped by
// backoff.max so that a function cannot park an event for a day. Used instead of the jittered
// backoff; nullopt for other answers or without a usable header.
std::optional<config::Duration> retry_after_delay(const CallResult& result,
                                                  const config::Backoff& backoff,
                                                  std::chrono::system_clock::time_point now);

}  // namespace triggerd
