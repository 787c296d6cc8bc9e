#include "dispatcher/retry_policy.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>

namespace triggerd {
namespace {

using namespace std::chrono_literals;
using config::BackoffPolicy;
using config::Duration;

CallResult status(int code, std::string retry_after = {}) {
  CallResult result;
  result.kind = CallResult::Kind::status;
  result.status = code;
  result.retry_after = std::move(retry_after);
  return result;
}

CallResult failed(CallResult::Kind kind) {
  CallResult result;
  result.kind = kind;
  return result;
}

// A generator that always yields the same end of its range, to pin the jitter draw.
struct FixedGenerator {
  using result_type = std::uint32_t;
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }
  result_type operator()() { return value; }
  result_type value;
};

TEST(RetryPolicy, ClassifiesEveryStatusAsSpecSectionThreeSays) {
  struct Case {
    int status;
    Verdict verdict;
  };
  const Case cases[] = {
      {200, Verdict::delivered}, {201, Verdict::delivered}, {202, Verdict::delivered},
      {204, Verdict::delivered}, {299, Verdict::delivered}, {404, Verdict::retry},
      {408, Verdict::retry},     {409, Verdict::retry},     {429, Verdict::retry},
      {500, Verdict::retry},     {502, Verdict::retry},     {503, Verdict::retry},
      {504, Verdict::retry},     {599, Verdict::retry},     {400, Verdict::reject},
      {401, Verdict::reject},    {403, Verdict::reject},    {405, Verdict::reject},
      {410, Verdict::reject},    {413, Verdict::reject},    {422, Verdict::reject},
      {301, Verdict::reject},    {302, Verdict::reject},    {100, Verdict::reject},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(classify(status(c.status)), c.verdict) << "status " << c.status;
  }
}

TEST(RetryPolicy, RetriesTimeoutsAndConnectionErrors) {
  EXPECT_EQ(classify(failed(CallResult::Kind::timeout)), Verdict::retry);
  EXPECT_EQ(classify(failed(CallResult::Kind::connect_error)), Verdict::retry);
}

TEST(RetryPolicy, BackoffCeilingGrowsPerPolicyAndStopsAtMax) {
  struct Case {
    BackoffPolicy policy;
    int attempt;
    Duration ceiling;
  };
  const Case cases[] = {
      {BackoffPolicy::exponential, 1, 200ms},  {BackoffPolicy::exponential, 2, 400ms},
      {BackoffPolicy::exponential, 3, 800ms},  {BackoffPolicy::exponential, 5, 3200ms},
      {BackoffPolicy::exponential, 6, 5000ms}, {BackoffPolicy::exponential, 60, 5000ms},
      {BackoffPolicy::linear, 1, 200ms},       {BackoffPolicy::linear, 2, 400ms},
      {BackoffPolicy::linear, 3, 600ms},       {BackoffPolicy::linear, 25, 5000ms},
      {BackoffPolicy::linear, 1000, 5000ms},   {BackoffPolicy::constant, 1, 200ms},
      {BackoffPolicy::constant, 7, 200ms},     {BackoffPolicy::constant, 1000, 200ms},
  };
  for (const Case& c : cases) {
    const config::Backoff backoff{c.policy, 200ms, 5s};
    EXPECT_EQ(backoff_ceiling(backoff, c.attempt), c.ceiling)
        << "policy " << static_cast<int>(c.policy) << ", attempt " << c.attempt;
  }
}

TEST(RetryPolicy, BackoffCeilingDoesNotOverflowAfterManyAttempts) {
  const config::Backoff backoff{BackoffPolicy::exponential, 200ms, 30s};
  EXPECT_EQ(backoff_ceiling(backoff, 64), 30s);
  EXPECT_EQ(backoff_ceiling(backoff, 5000), 30s);
  EXPECT_EQ(backoff_ceiling(backoff, std::numeric_limits<int>::max()), 30s);
}

TEST(RetryPolicy, BackoffIsCappedByAMaxBelowTheFirstDelay) {
  const config::Backoff backoff{BackoffPolicy::linear, 2s, 500ms};
  EXPECT_EQ(backoff_ceiling(backoff, 1), 500ms);
}

TEST(RetryPolicy, FullJitterDrawsSpanZeroToTheCeilingForEveryPolicy) {
  std::mt19937_64 random(20261128);
  for (BackoffPolicy policy :
       {BackoffPolicy::exponential, BackoffPolicy::linear, BackoffPolicy::constant}) {
    const config::Backoff backoff{policy, 100ms, 2s};
    for (int attempt = 1; attempt <= 8; ++attempt) {
      const Duration ceiling = backoff_ceiling(backoff, attempt);
      Duration lowest = ceiling;
      Duration highest{0};
      for (int draw = 0; draw < 2000; ++draw) {
        const Duration delay = backoff_delay(backoff, attempt, random);
        ASSERT_GE(delay, 0ms);
        ASSERT_LE(delay, ceiling);
        lowest = std::min(lowest, delay);
        highest = std::max(highest, delay);
      }
      // Full jitter, not "delay plus a little": the draws must cover the whole range.
      EXPECT_LT(lowest, ceiling / 20) << "policy " << static_cast<int>(policy);
      EXPECT_GT(highest, ceiling * 19 / 20) << "policy " << static_cast<int>(policy);
    }
  }
}

TEST(RetryPolicy, JitterEndsAreZeroAndTheCeiling) {
  const config::Backoff backoff{BackoffPolicy::exponential, 100ms, 30s};
  FixedGenerator lowest{FixedGenerator::min()};
  FixedGenerator highest{FixedGenerator::max()};
  EXPECT_EQ(backoff_delay(backoff, 3, lowest), 0ms);
  EXPECT_EQ(backoff_delay(backoff, 3, highest), 400ms);
  EXPECT_EQ(full_jitter(1000ms, 0.25), 250ms);
  EXPECT_EQ(full_jitter(0ms, 0.5), 0ms);
}

struct RetryAfterCase {
  const char* what;
  CallResult answer;
  std::optional<Duration> delay;
};

TEST(RetryAfter, IsHonouredOn429And503UpToBackoffMaxAndIgnoredOtherwise) {
  // Sun, 06 Nov 1994 08:49:37 GMT
  const auto now = std::chrono::sys_days{std::chrono::year{1994} / 11 / 6} + 8h + 49min + 37s;
  const config::Backoff backoff{BackoffPolicy::exponential, 200ms, 30s};
  const RetryAfterCase cases[] = {
      {"delta seconds on a 429", status(429, "1"), 1s},
      {"delta seconds on a 503", status(503, "7"), 7s},
      {"zero seconds", status(503, "0"), 0s},
      {"IMF-fixdate", status(503, "Sun, 06 Nov 1994 08:49:42 GMT"), 5s},
      {"RFC 850 date", status(429, "Sunday, 06-Nov-94 08:49:40 GMT"), 3s},
      {"asctime date", status(429, "Sun Nov  6 08:49:39 1994"), 2s},
      {"a date in the past: no wait", status(503, "Sun, 06 Nov 1994 08:00:00 GMT"), 0s},
      {"seconds past backoff.max", status(429, "3600"), 30s},
      {"a date past backoff.max", status(503, "Mon, 07 Nov 1994 08:49:37 GMT"), 30s},
      {"seconds past any integer", status(429, "99999999999999999999999"), 30s},
      {"a 500", status(500, "5"), std::nullopt},
      {"a 404", status(404, "5"), std::nullopt},
      {"a 200", status(200, "5"), std::nullopt},
      {"a timeout", failed(CallResult::Kind::timeout), std::nullopt},
      {"no header", status(503, ""), std::nullopt},
      {"negative", status(503, "-1"), std::nullopt},
      {"a fraction", status(503, "1.5"), std::nullopt},
      {"a leading space", status(503, " 5"), std::nullopt},
      {"a word", status(503, "soon"), std::nullopt},
      {"a date not in GMT", status(503, "Sun, 06 Nov 1994 08:49:42 UTC"), std::nullopt},
      {"a date that does not exist", status(503, "Sun, 31 Feb 1994 08:49:42 GMT"), std::nullopt},
  };
  for (const RetryAfterCase& c : cases) {
    EXPECT_EQ(retry_after_delay(c.answer, backoff, now), c.delay) << c.what;
  }
}

}  // namespace
}  // namespace triggerd
