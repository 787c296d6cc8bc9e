#include "dispatcher/retry_policy.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/time_format.hpp"

namespace triggerd {

Verdict classify_status(int status) {
  if (status >= 200 && status <= 299) return Verdict::delivered;
  // Not found (a function being deployed or scaled from zero behind a gateway), request timeout,
  // conflict (a lock held elsewhere), too many requests and every server error are passing
  // states; any other status is the function's considered answer about this event.
  if (status == 404 || status == 408 || status == 409 || status == 429) return Verdict::retry;
  if (status >= 500 && status <= 599) return Verdict::retry;
  return Verdict::reject;
}

AttemptResult attempt_result(const CallResult& result) {
  switch (result.kind) {
    case CallResult::Kind::status:
      if (result.status >= 200 && result.status <= 299) return AttemptResult::k2xx;
      if (result.status >= 500) return AttemptResult::k5xx;
      return AttemptResult::k4xx;
    case CallResult::Kind::timeout:
      return AttemptResult::kTimeout;
    case CallResult::Kind::connect_error:
    case CallResult::Kind::cancelled:
      break;
  }
  return AttemptResult::kConnectError;
}

bool is_wake_failure(const CallResult& result) {
  return (result.kind == CallResult::Kind::connect_error && !result.tls_refused) ||
         (result.kind == CallResult::Kind::status && result.status == 503);
}

Verdict classify(const CallResult& result) {
  switch (result.kind) {
    case CallResult::Kind::status:
      return classify_status(result.status);
    case CallResult::Kind::timeout:
    case CallResult::Kind::connect_error:
    case CallResult::Kind::cancelled:
      break;
  }
  return Verdict::retry;
}

config::Duration backoff_ceiling(const config::Backoff& backoff, int attempt) {
  const std::int64_t delay = std::max<std::int64_t>(backoff.delay.count(), 0);
  const std::int64_t cap = std::max<std::int64_t>(backoff.max.count(), 0);
  const std::int64_t n = std::max(attempt, 1);
  // In double: delay·2^(n-1) overflows 64 bits after a few dozen failed writes to a dead letter
  // that is down for hours; the cap is what matters then.
  auto ceiling = static_cast<double>(delay);
  switch (backoff.policy) {
    case config::BackoffPolicy::exponential:
      ceiling = std::ldexp(ceiling, static_cast<int>(std::min<std::int64_t>(n - 1, 1024)));
      break;
    case config::BackoffPolicy::linear:
      ceiling *= static_cast<double>(n);
      break;
    case config::BackoffPolicy::constant:
      break;
  }
  if (ceiling >= static_cast<double>(cap)) return config::Duration(cap);
  return config::Duration(static_cast<std::int64_t>(ceiling));
}

config::Duration full_jitter(config::Duration ceiling, double fraction) {
  if (ceiling.count() <= 0 || !(fraction > 0)) return config::Duration(0);
  if (fraction >= 1) return ceiling;
  const auto drawn =
      static_cast<std::int64_t>(std::llround(static_cast<double>(ceiling.count()) * fraction));
  return config::Duration(std::clamp<std::int64_t>(drawn, 0, ceiling.count()));
}

std::optional<config::Duration> parse_retry_after(std::string_view value,
                                                  std::chrono::system_clock::time_point now) {
  if (value.empty()) return std::nullopt;
  if (value.find_first_not_of("0123456789") == std::string_view::npos) {
    // delta-seconds; anything beyond a day is as good as "a long time" and would only risk
    // overflow further on.
    constexpr std::int64_t kMaxSeconds = std::int64_t{24} * 60 * 60;
    std::int64_t seconds = 0;
    for (char c : value) {
      seconds = std::min(seconds * 10 + (c - '0'), kMaxSeconds);
    }
    return std::chrono::duration_cast<config::Duration>(std::chrono::seconds(seconds));
  }
  auto date = parse_http_date(value);
  if (!date) return std::nullopt;
  if (*date <= now) return config::Duration(0);
  return std::chrono::ceil<config::Duration>(*date - now);
}

std::optional<config::Duration> retry_after_delay(const CallResult& result,
                                                  const config::Backoff& backoff,
                                                  std::chrono::system_clock::time_point now) {
  if (!result.is_status() || (result.status != 429 && result.status != 503)) return std::nullopt;
  auto wait = parse_retry_after(result.retry_after, now);
  if (!wait) return std::nullopt;
  return std::min(*wait, std::max(backoff.max, config::Duration(0)));
}

}  // namespace triggerd
