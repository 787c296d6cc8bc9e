// Dispatcher against real HTTP servers on 127.0.0.1: function stubs (tests/function_stub/) stand
// in for the function and for an http dead letter, answer what each test scripts, and record
// what they received. They run on their own threads, the dispatcher on the test's.
#include "dispatcher/dispatcher.hpp"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/metrics.hpp"
#include "core/net_names.hpp"
#include "core/text.hpp"
#include "core/time_format.hpp"
#include "dispatcher/delivery.hpp"
#include "dispatcher/http_client.hpp"
#include "dispatcher/http_dead_letter.hpp"
#include "tests/function_stub/function_stub.hpp"
#include "tests/support/host_resolves.hpp"

namespace triggerd {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::FunctionStub;
using testing::RecordedRequest;
using testing::StubStep;

// ---------------------------------------------------------------------------------------------
// The stubs.

// An answer of the function or the dead letter; it carries a body, as a function's answers do,
// which the client must read past to use the connection again.
StubStep answer(int status) { return StubStep::respond(status, "answer body"); }

// The stub answers `steps` to the next requests, in order, and 200 after them.
void script(FunctionStub& stub, std::vector<StubStep> steps) {
  stub.clear_script();
  stub.always(answer(200));
  for (StubStep& step : steps) stub.enqueue(std::move(step));
}

config::HttpUrl url_of(const FunctionStub& stub, const std::string& target) {
  return {stub.url(target), "127.0.0.1", stub.port(), target};
}

// The value of the only header of that name, in any case; "<absent>" or "<repeated>" otherwise,
// so that a header written twice fails a test as surely as a missing one.
std::string only_header(const RecordedRequest& request, std::string_view name) {
  std::string value = "<absent>";
  for (const auto& [key, field] : request.headers) {
    if (!equals_ignoring_case(key, name)) continue;
    if (value != "<absent>") return "<repeated>";
    value = field;
  }
  return value;
}

// A loopback port with nothing listening on it.
std::uint16_t closed_port() {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

// ---------------------------------------------------------------------------------------------
// The fixture: one function, one trigger, optionally an http dead letter.

const std::string kBody = std::string("{\"order\":42}") + '\0' + "\r\n\xff\xfe binary tail";

constexpr const char* kEventId = "orders-0-42";

Event make_event(std::string id = kEventId) {
  Event event;
  event.id = std::move(id);
  event.source = "kafka://main-kafka/orders";
  event.type = "dev.triggerd.kafka.message";
  event.subject = "customer 7";
  event.content_type = "application/json";
  event.data = kBody;
  event.time = std::chrono::sys_days{std::chrono::year{2026} / 11 / 28} + 10h + 123ms;
  event.attributes = {{"partitionkey", "p-1"}};
  event.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  event.tracestate = "congo=t61rcWkgMzE";
  return event;
}

double value(const prometheus::Counter& counter) { return counter.Value(); }

// What became of events at the dead letter: taken, writes that failed for now or for good, and
// events dropped because it never took them. Compared whole, so that a test states all four.
struct DeadLetterCounts {
  double dead_lettered = 0;
  double failures_temporary = 0;
  double failures_permanent = 0;
  double dropped = 0;
  bool operator==(const DeadLetterCounts&) const = default;
};

void PrintTo(const DeadLetterCounts& counts, std::ostream* out) {
  *out << "{dead_lettered " << counts.dead_lettered << ", failures_temporary "
       << counts.failures_temporary << ", failures_permanent " << counts.failures_permanent
       << ", dropped " << counts.dropped << "}";
}

class DispatcherTest : public ::testing::Test {
 protected:
  DispatcherTest() {
    script(function_, {});
    script(dead_letter_, {});
    config::Function function;
    function.name = "resize";
    function.url = url_of(function_, "/resize");
    function.timeout = 2s;
    function.max_concurrency = 8;
    function.headers = {{"Authorization", config::Secret("Bearer s3cret")}};
    config_.functions.push_back(function);

    config::Trigger trigger;
    trigger.name = "orders";
    trigger.function = "resize";
    trigger.source = config::KafkaSource{"main-kafka", {"orders"}, "triggerd-orders"};
    trigger.delivery.retries = 3;
    trigger.delivery.backoff = {config::BackoffPolicy::exponential, 20ms, 200ms};
    config_.triggers.push_back(trigger);
  }

  config::Function& function() { return config_.functions[0]; }
  config::Trigger& trigger() { return config_.triggers[0]; }
  void with_dead_letter() {
    trigger().delivery.dead_letter = config::HttpDeadLetter{url_of(dead_letter_, "/dlq")};
  }

  // A dead letter's failed writes are retried every 50 ms for `retry_for`.
  void with_dead_letter_retried_for(std::chrono::milliseconds retry_for) {
    trigger().delivery.backoff = {config::BackoffPolicy::constant, 50ms, 50ms};
    trigger().delivery.dead_letter_retry_for = retry_for;
  }

  // Starts a trigger that does not retry the function and dead-letters over http; the function
  // answers `function`, the dead letter `dead_letter`, and both 200 after that.
  void start_dead_lettering(std::vector<StubStep> function, std::vector<StubStep> dead_letter) {
    with_dead_letter();
    trigger().delivery.retries = 0;
    start();
    script(function_, std::move(function));
    script(dead_letter_, std::move(dead_letter));
  }

  // Builds the dispatcher from the config as the test has shaped it.
  void start() {
    std::vector<MonitoredTrigger> monitored;
    for (const config::Trigger& trigger : config_.triggers) {
      monitored.push_back({.name = trigger.name, .function = trigger.function});
    }
    metrics_ = std::make_unique<Metrics>(monitored, "test");
    telemetry_ = metrics_->find("orders").get();
    DeadLetterSinks dead_letters;
    for (const config::Trigger& trigger : config_.triggers) {
      if (!trigger.delivery.dead_letter) continue;
      dead_letters.emplace(trigger.name,
                           std::make_unique<HttpDeadLetterSink>(
                               io_.get_executor(),
                               std::get<config::HttpDeadLetter>(*trigger.delivery.dead_letter)));
    }
    dispatcher_ = std::make_unique<Dispatcher>(io_.get_executor(), config_, std::move(dead_letters));
  }

  TriggerMetrics& counters() { return telemetry_->metrics; }
  DeadLetterCounts dead_letter_counts() {
    return {value(counters().dead_lettered), value(counters().dead_letter_failures_temporary),
            value(counters().dead_letter_failures_permanent),
            value(counters().dropped_dead_letter_failed)};
  }

  // Runs the test's io_context until `done` holds (or a generous limit passes).
  void run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 20s) {
    const auto give_up = Clock::now() + limit;
    while (!done() && Clock::now() < give_up) {
      if (io_.stopped()) io_.restart();
      if (io_.run_one_for(5ms) == 0) std::this_thread::sleep_for(1ms);
    }
  }
  void run_for(std::chrono::milliseconds duration) {
    const auto until = Clock::now() + duration;
    run_until([&] { return Clock::now() >= until; }, duration + 1s);
  }

  // A delivery the test started; `outcome` is set when it ends.
  struct TestDelivery final : Delivery {
    void delivery_done(Outcome result) override { outcome = result; }
    std::optional<Outcome> outcome;
  };

  // Starts the delivery of a new event of that id; the two are kept until the end of the test.
  std::shared_ptr<TestDelivery> spawn(std::string id = kEventId) {
    auto delivery = std::make_shared<TestDelivery>();
    delivery->start(*dispatcher_, events_.emplace_back(make_event(std::move(id))), trigger(),
                    *telemetry_);
    EXPECT_FALSE(delivery->outcome.has_value()) << "a delivery never ends inside start()";
    deliveries_.push_back(delivery);
    return delivery;
  }

  // Delivers a new event of that id and waits for the outcome.
  std::optional<Outcome> deliver(std::string id = kEventId) {
    auto delivery = spawn(std::move(id));
    run_until([&] { return delivery->outcome.has_value(); });
    return delivery->outcome;
  }

  // Declared first: destroyed last, after everything that holds its sockets and timers.
  asio::io_context io_;
  FunctionStub function_;
  FunctionStub dead_letter_;
  config::Config config_;
  std::unique_ptr<Metrics> metrics_;
  TriggerTelemetry* telemetry_ = nullptr;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::deque<Event> events_;  // a delivery refers to its event
  std::vector<std::shared_ptr<TestDelivery>> deliveries_;
};

// ---------------------------------------------------------------------------------------------

TEST_F(DispatcherTest, DeliversWithExactCloudEventsHeadersAndBody) {
  start();
  EXPECT_EQ(deliver(), Outcome::delivered);

  const auto received = function_.requests();
  ASSERT_EQ(received.size(), 1u);
  const RecordedRequest& request = received[0];
  EXPECT_EQ(request.target, "/resize");
  EXPECT_EQ(request.body, kBody);  // byte for byte, NUL, CR LF and all
  const std::vector<std::pair<std::string, std::string>> expected{
      {"host", "127.0.0.1:" + std::to_string(function_.port())},
      {"user-agent", "triggerd/" TRIGGERD_VERSION},
      {"connection", "keep-alive"},
      {"authorization", "Bearer s3cret"},
      {"ce-specversion", "1.0"},
      {"ce-id", "orders-0-42"},
      {"ce-source", "kafka://main-kafka/orders"},
      {"ce-type", "dev.triggerd.kafka.message"},
      {"ce-time", "2026-11-28T10:00:00.123Z"},
      {"ce-subject", "customer%207"},
      {"content-type", "application/json"},
      {"ce-partitionkey", "p-1"},
      {"ce-trigger", "orders"},
      {"ce-attempt", "1"},
      {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
      {"tracestate", "congo=t61rcWkgMzE"},
      {"content-length", std::to_string(kBody.size())},
  };
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case, in order
  for (const auto& [name, value] : request.headers)
    headers.emplace_back(to_ascii_lower(name), value);
  EXPECT_EQ(headers, expected);

  EXPECT_EQ(value(counters().delivered), 1);
  EXPECT_EQ(value(counters().attempts_2xx), 1);
  EXPECT_EQ(counters().delivery_duration.Collect().histogram.sample_count, 1u);
}

TEST_F(DispatcherTest, DeliversToAFunctionNamedByItsHostName) {
  // The url names a host, so the connection starts with a lookup (an address connects at once;
  // every other test takes that way). "localhost" may give ::1 first: every address is tried.
  TRIGGERD_SKIP_UNLESS_RESOLVES("localhost");
  function().url.host = "localhost";
  start();
  EXPECT_EQ(deliver(), Outcome::delivered);
  ASSERT_EQ(function_.requests().size(), 1u);
  EXPECT_EQ(value(counters().delivered), 1);
}

TEST_F(DispatcherTest, RetriesServerErrorsWithinTheBackoffBoundsUntilDelivered) {
  trigger().delivery.backoff = {config::BackoffPolicy::exponential, 40ms, 1s};
  start();
  script(function_, {answer(503), answer(503)});
  EXPECT_EQ(deliver(), Outcome::delivered);

  const auto received = function_.requests();
  ASSERT_EQ(received.size(), 3u);
  for (std::size_t i = 0; i < received.size(); ++i) {
    EXPECT_EQ(only_header(received[i], "ce-attempt"), std::to_string(i + 1));
    EXPECT_EQ(received[i].body, kBody);
  }
  // Full jitter: at most 40 ms after the first failure and 80 ms after the second, plus the
  // time a loopback round trip and a busy CI machine add.
  constexpr auto kSlack = 60ms;
  EXPECT_LE(received[1].received_steady - received[0].received_steady, 40ms + kSlack);
  EXPECT_LE(received[2].received_steady - received[1].received_steady, 80ms + kSlack);
  EXPECT_EQ(function_.connection_count(), 1u) << "a 503 does not cost the connection";

  EXPECT_EQ(value(counters().attempts_5xx), 2);
  EXPECT_EQ(value(counters().attempts_2xx), 1);
  EXPECT_EQ(value(counters().delivered), 1);
  EXPECT_EQ(counters().delivery_duration.Collect().histogram.sample_count, 3u);
}

TEST_F(DispatcherTest, DeadLettersARejectedEventAtOnceWithItsFailure) {
  with_dead_letter();
  start();
  script(function_, {answer(400)});
  const auto before = std::chrono::system_clock::now();
  EXPECT_EQ(deliver(), Outcome::dead_lettered);

  EXPECT_EQ(function_.request_count(), 1u) << "a 400 is not retried";
  const auto letters = dead_letter_.requests();
  ASSERT_EQ(letters.size(), 1u);
  const RecordedRequest& letter = letters[0];
  EXPECT_EQ(letter.target, "/dlq");
  EXPECT_EQ(letter.body, kBody);
  const std::vector<std::pair<std::string_view, std::string_view>> expected{
      {"content-type", "application/json"},
      {"ce-id", "orders-0-42"},
      {"ce-source", "kafka://main-kafka/orders"},
      {"ce-type", "dev.triggerd.kafka.message"},
      {"ce-subject", "customer%207"},
      {"ce-partitionkey", "p-1"},
      {"ce-trigger", "orders"},
      {"ce-function", "resize"},
      {"ce-attempts", "1"},
      {"ce-laststatus", "400"},
      {"ce-lasterror", "<absent>"},
      {"ce-attempt", "<absent>"},
      {"authorization", "<absent>"},  // the function's secrets stay with it
  };
  for (const auto& [name, header] : expected) EXPECT_EQ(only_header(letter, name), header) << name;
  const std::string first_attempt = only_header(letter, "ce-firstattempt");
  EXPECT_GE(first_attempt, format_rfc3339(before - 1s));
  EXPECT_LE(first_attempt, format_rfc3339(std::chrono::system_clock::now() + 1s));

  EXPECT_EQ(value(counters().attempts_4xx), 1);
  EXPECT_EQ(value(counters().dead_lettered), 1);
  EXPECT_EQ(value(counters().delivered), 0);
  EXPECT_EQ(value(counters().dropped_rejected), 0);
}

TEST_F(DispatcherTest, RetriesTheDeadLetterWriteUntilTheDeadLetterTakesTheEvent) {
  start_dead_lettering({answer(500)}, {answer(503), answer(500)});
  EXPECT_EQ(deliver(), Outcome::dead_lettered);

  const auto letters = dead_letter_.requests();
  ASSERT_EQ(letters.size(), 3u);
  for (const RecordedRequest& letter : letters) {
    EXPECT_EQ(only_header(letter, "ce-attempts"), "1");
    EXPECT_EQ(only_header(letter, "ce-laststatus"), "500");
  }
  EXPECT_EQ(dead_letter_counts(), (DeadLetterCounts{.dead_lettered = 1, .failures_temporary = 2}));
  EXPECT_EQ(value(counters().attempts_5xx), 1) << "dead-letter writes are not attempts";
}

TEST_F(DispatcherTest, DropsAnEventTheDeadLetterRefusesForGoodAfterOneWrite) {
  start_dead_lettering({answer(422)}, {answer(400), answer(400)});
  EXPECT_EQ(deliver(), Outcome::dropped);
  run_for(100ms);  // room for a wrong second write to show up

  EXPECT_EQ(dead_letter_.request_count(), 1u) << "a 400 from the dead letter is not retried";
  EXPECT_EQ(dead_letter_counts(), (DeadLetterCounts{.failures_permanent = 1, .dropped = 1}));
  EXPECT_EQ(value(counters().dropped_rejected), 0) << "it had a dead letter: not this reason";
}

TEST_F(DispatcherTest, DropsAnEventWhenTheDeadLetterKeepsFailingForRetryFor) {
  with_dead_letter_retried_for(400ms);
  start_dead_lettering({answer(400)}, std::vector<StubStep>(100, answer(503)));
  const auto started = Clock::now();
  EXPECT_EQ(deliver(), Outcome::dropped);
  const auto took = Clock::now() - started;

  // Written until the budget ran out (a last write at its end), and not much longer.
  EXPECT_GE(took, 400ms);
  EXPECT_LT(took, 1500ms);
  const auto writes = dead_letter_.request_count();
  EXPECT_GE(writes, 3u);
  EXPECT_EQ(dead_letter_counts(),
            (DeadLetterCounts{.failures_temporary = static_cast<double>(writes), .dropped = 1}));
}

// The budget runs from when the dead letter started failing: once it has been failing that long,
// an event does not wait a whole budget of its own, or a trigger would stay full of events
// waiting for a target that is gone. A write that succeeds ends the failing spell.
TEST_F(DispatcherTest, OnceTheDeadLetterHasFailedForRetryForAFailingEventGetsOneWrite) {
  with_dead_letter_retried_for(300ms);
  start_dead_lettering({answer(400), answer(400), answer(400)},
                       std::vector<StubStep>(100, answer(503)));
  EXPECT_EQ(deliver("first"), Outcome::dropped);
  const auto first_writes = dead_letter_.request_count();

  const auto started = Clock::now();
  EXPECT_EQ(deliver("second"), Outcome::dropped);
  EXPECT_LT(Clock::now() - started, 250ms) << "waited a budget of its own";
  EXPECT_EQ(dead_letter_.request_count(), first_writes + 1);

  script(dead_letter_, {});  // the dead letter is back
  EXPECT_EQ(deliver("third"), Outcome::dead_lettered);
  EXPECT_EQ(value(counters().dropped_dead_letter_failed), 2);
  EXPECT_EQ(value(counters().dead_lettered), 1);
}

TEST_F(DispatcherTest, AFailureLongAfterTheLastOneGetsAWholeRetryForAgain) {
  with_dead_letter_retried_for(300ms);
  start_dead_lettering({answer(400), answer(400)}, std::vector<StubStep>(100, answer(503)));
  EXPECT_EQ(deliver("first"), Outcome::dropped);
  run_for(400ms);  // no write at all for longer than retry_for

  const auto started = Clock::now();
  EXPECT_EQ(deliver("second"), Outcome::dropped);
  EXPECT_GE(Clock::now() - started, 300ms);
  EXPECT_EQ(value(counters().dropped_dead_letter_failed), 2);
}

TEST_F(DispatcherTest, ReportsConnectionErrorsToTheDeadLetterAsLastError) {
  function().url = {"http://127.0.0.1/x", "127.0.0.1", closed_port(), "/x"};
  trigger().delivery.retries = 1;
  with_dead_letter();
  start();
  EXPECT_EQ(deliver(), Outcome::dead_lettered);

  const auto letters = dead_letter_.requests();
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(only_header(letters[0], "ce-attempts"), "2");
  EXPECT_EQ(only_header(letters[0], "ce-laststatus"), "<absent>");
  // CloudEvents header values are percent-encoded: "connect_error: connection refused".
  EXPECT_EQ(only_header(letters[0], "ce-lasterror"), "connect_error:%20connection%20refused");
  EXPECT_EQ(value(counters().attempts_connect_error), 2);
}

TEST_F(DispatcherTest, RetriesAnAttemptThatTimedOut) {
  function().timeout = 150ms;
  start();
  script(function_, {answer(200).with_delay(600ms)});
  EXPECT_EQ(deliver(), Outcome::delivered);

  const auto received = function_.requests();
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(only_header(received[1], "ce-attempt"), "2");
  // The second attempt came before the slow answer would have: the timeout cut the first.
  EXPECT_LT(received[1].received_steady - received[0].received_steady, 450ms);
  EXPECT_EQ(value(counters().attempts_timeout), 1);
  EXPECT_EQ(value(counters().attempts_2xx), 1);
  EXPECT_EQ(value(counters().delivered), 1);
}

// One watchdog serves every attempt of a function: each attempt must still end at its own
// deadline, and nothing may be left waiting once no attempt is under way.
TEST_F(DispatcherTest, EachAttemptTimesOutAtItsOwnDeadline) {
  function().timeout = 400ms;
  trigger().delivery.retries = 0;
  start();
  script(function_, {answer(200).with_delay(3s), answer(200).with_delay(3s)});
  const Clock::time_point first_start = Clock::now();
  auto first = spawn("first");
  run_for(200ms);
  const Clock::time_point second_start = Clock::now();
  auto second = spawn("second");
  Clock::time_point first_end{};
  Clock::time_point second_end{};
  run_until([&] {
    if (first->outcome && first_end == Clock::time_point{}) first_end = Clock::now();
    if (second->outcome && second_end == Clock::time_point{}) second_end = Clock::now();
    return first->outcome && second->outcome;
  });
  ASSERT_TRUE(first->outcome && second->outcome);
  EXPECT_EQ(first->outcome, Outcome::dropped);
  EXPECT_EQ(second->outcome, Outcome::dropped);
  EXPECT_EQ(value(counters().attempts_timeout), 2);
  EXPECT_GE(first_end - first_start, 400ms);
  EXPECT_LT(first_end - first_start, 700ms);
  EXPECT_GE(second_end - second_start, 400ms);
  EXPECT_LT(second_end - second_start, 700ms);
  EXPECT_GE(second_end - first_end, 100ms) << "the second did not end at the first's deadline";

  // No timer is left behind: with nothing under way the io_context has no work.
  io_.restart();
  const Clock::time_point before = Clock::now();
  io_.run_for(2s);
  EXPECT_LT(Clock::now() - before, 1s);
}

TEST_F(DispatcherTest, RetriesAConnectionClosedBeforeAnyAnswerAsAConnectError) {
  start();
  script(function_, {StubStep::close_connection()});
  EXPECT_EQ(deliver(), Outcome::delivered);
  EXPECT_EQ(function_.request_count(), 2u);
  EXPECT_EQ(value(counters().attempts_connect_error), 1);
  EXPECT_EQ(value(counters().attempts_2xx), 1);
}

// Retry-After on a 429 replaces the jittered backoff, but never waits beyond backoff.max.
struct RetryAfterCase {
  const char* name;
  config::Duration max;
  std::chrono::milliseconds at_least;
  std::chrono::milliseconds below;
};

void PrintTo(const RetryAfterCase& test, std::ostream* out) { *out << test.name; }

class DispatcherRetryAfterTest : public DispatcherTest,
                                 public ::testing::WithParamInterface<RetryAfterCase> {};

TEST_P(DispatcherRetryAfterTest, HonoursRetryAfterCappedByBackoffMax) {
  trigger().delivery.backoff = {config::BackoffPolicy::constant, 10ms, GetParam().max};
  start();
  script(function_, {answer(429).with_header("Retry-After", "1")});
  EXPECT_EQ(deliver(), Outcome::delivered);

  const auto received = function_.requests();
  ASSERT_EQ(received.size(), 2u);
  const auto gap = received[1].received_steady - received[0].received_steady;
  EXPECT_GE(gap, GetParam().at_least);
  EXPECT_LT(gap, GetParam().below);
  EXPECT_EQ(value(counters().attempts_4xx), 1);
}

INSTANTIATE_TEST_SUITE_P(Caps, DispatcherRetryAfterTest,
                         ::testing::Values(RetryAfterCase{"CappedByMax", 250ms, 240ms, 800ms},
                                           RetryAfterCase{"BelowMax", 5s, 990ms, 1800ms}),
                         [](const auto& test) { return std::string(test.param.name); });

TEST_F(DispatcherTest, DropsAndCountsAnEventWhoseRetriesAreExhaustedWithoutADeadLetter) {
  trigger().delivery.retries = 2;
  start();
  script(function_, {answer(503), answer(502), answer(500)});
  EXPECT_EQ(deliver(), Outcome::dropped);

  EXPECT_EQ(function_.request_count(), 3u);
  EXPECT_EQ(value(counters().attempts_5xx), 3);
  EXPECT_EQ(value(counters().dropped_retries_exhausted), 1);
  EXPECT_EQ(value(counters().dropped_rejected), 0);
  EXPECT_EQ(value(counters().delivered), 0);
  EXPECT_EQ(value(counters().dead_lettered), 0);
}

TEST_F(DispatcherTest, DropsARejectedEventWithoutADeadLetterAsRejected) {
  start();
  script(function_, {answer(422)});
  EXPECT_EQ(deliver(), Outcome::dropped);
  EXPECT_EQ(function_.request_count(), 1u);
  EXPECT_EQ(value(counters().dropped_rejected), 1);
  EXPECT_EQ(value(counters().dropped_retries_exhausted), 0);
}

TEST_F(DispatcherTest, NeverExceedsMaxConcurrencyWithManyEventsAtOnce) {
  function().max_concurrency = 3;
  start();
  std::vector<StubStep> slow(20, answer(200).with_delay(30ms));
  script(function_, slow);
  std::vector<std::shared_ptr<TestDelivery>> started;
  for (int i = 0; i < 20; ++i) started.push_back(spawn("event-" + std::to_string(i)));
  run_until([&] {
    return std::all_of(started.begin(), started.end(), [](auto& d) { return d->outcome; });
  });

  for (const auto& delivery : started) EXPECT_EQ(delivery->outcome, Outcome::delivered);
  EXPECT_EQ(function_.request_count(), 20u);
  EXPECT_EQ(function_.max_concurrent(), 3) << "three at a time, not fewer, never more";
  EXPECT_LE(function_.connection_count(), 3u);
  EXPECT_EQ(value(counters().delivered), 20);
}

// The function's slots go to waiting events in the order they came, and one that is cancelled
// while it waits leaves the queue without taking a slot from the others.
TEST_F(DispatcherTest, HandsFreedSlotsToWaitingEventsInArrivalOrder) {
  function().max_concurrency = 1;
  start();
  script(function_, {answer(200).with_delay(100ms)});
  std::vector<std::shared_ptr<TestDelivery>> started;
  for (const char* id : {"busy", "first", "cancelled", "second", "third"}) {
    started.push_back(spawn(id));
  }
  run_until([&] { return function_.request_count() == 1; });
  started[2]->cancel();
  run_until([&] {
    return std::all_of(started.begin(), started.end(), [](auto& d) { return d->outcome; });
  });

  EXPECT_EQ(started[2]->outcome, Outcome::abandoned);
  std::vector<std::string> order;
  for (const auto& request : function_.requests()) order.push_back(only_header(request, "ce-id"));
  EXPECT_EQ(order, (std::vector<std::string>{"busy", "first", "second", "third"}));
  EXPECT_EQ(value(counters().delivered), 4);
  EXPECT_EQ(function_.max_concurrent(), 1);
}

TEST_F(DispatcherTest, SequentialDeliveriesShareOneKeepAliveConnection) {
  start();
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(deliver("event-" + std::to_string(i)), Outcome::delivered) << "event " << i;
  }
  EXPECT_EQ(function_.request_count(), 50u);
  EXPECT_EQ(function_.connection_count(), 1u);
  EXPECT_EQ(dispatcher_->function_client("resize")->connections_opened(), 1u);
}

TEST_F(DispatcherTest, OpensANewConnectionWhenTheFunctionSaysConnectionClose) {
  start();
  script(function_, {answer(200).then(StubStep::After::kClose)});
  EXPECT_EQ(deliver("first"), Outcome::delivered);
  EXPECT_EQ(deliver("second"), Outcome::delivered);
  EXPECT_EQ(function_.connection_count(), 2u);
  EXPECT_EQ(value(counters().attempts_2xx), 2);
}

TEST_F(DispatcherTest, ReplacesAPooledConnectionTheServerClosedWithoutCountingAnAttempt) {
  start();
  script(function_, {answer(200).then(StubStep::After::kHangUp)});
  EXPECT_EQ(deliver("first"), Outcome::delivered);
  ASSERT_EQ(dispatcher_->function_client("resize")->idle_connections(), 1u);
  run_for(50ms);  // the server's FIN reaches the pooled connection

  EXPECT_EQ(deliver("second"), Outcome::delivered);
  const auto received = function_.requests();
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(only_header(received[1], "ce-id"), "second");
  EXPECT_EQ(only_header(received[1], "ce-attempt"), "1")
      << "the stale connection is not an attempt";
  EXPECT_EQ(received[1].connection, 2u);
  EXPECT_EQ(value(counters().attempts_2xx), 2);
  EXPECT_EQ(value(counters().attempts_connect_error), 0);
}

TEST_F(DispatcherTest, StopClosesIdleConnections) {
  start();
  EXPECT_EQ(deliver(), Outcome::delivered);
  FunctionClient* client = dispatcher_->function_client("resize");
  ASSERT_EQ(client->idle_connections(), 1u);
  dispatcher_->stop();
  EXPECT_EQ(client->idle_connections(), 0u);
}

// Cancellation (a drain out of time) ends a delivery promptly as `abandoned`, wherever it is.
class DispatcherCancelTest : public DispatcherTest {
 protected:
  // Starts a delivery of an event of that id, cancels it once `ready` holds, and returns how long
  // it took to end after that.
  Clock::duration cancel_when(const std::function<bool()>& ready, std::optional<Outcome>& outcome,
                              std::string id = kEventId) {
    auto delivery = spawn(std::move(id));
    run_until(ready);
    EXPECT_TRUE(ready()) << "never got to the point of cancelling";
    EXPECT_FALSE(delivery->outcome.has_value());
    const auto cancelled_at = Clock::now();
    delivery->cancel();
    EXPECT_FALSE(delivery->outcome.has_value()) << "a delivery never ends inside cancel()";
    run_until([&] { return delivery->outcome.has_value(); });
    outcome = delivery->outcome;
    return Clock::now() - cancelled_at;
  }
};

TEST_F(DispatcherCancelTest, AbandonsPromptlyWhenCancelledWhileWaitingToRetry) {
  trigger().delivery.backoff = {config::BackoffPolicy::constant, 10s, 10s};
  start();
  script(function_, {answer(503)});
  std::optional<Outcome> outcome;
  const auto took = cancel_when(
      [&] {
        // The 503 is counted once the dispatcher has read it; it then waits up to 10 s.
        return value(counters().attempts_5xx) == 1;
      },
      outcome);
  EXPECT_EQ(outcome, Outcome::abandoned);
  EXPECT_LT(took, 200ms);
  EXPECT_EQ(function_.request_count(), 1u);
  EXPECT_EQ(value(counters().delivered), 0);
  EXPECT_EQ(value(counters().dropped_retries_exhausted), 0);
}

TEST_F(DispatcherCancelTest, AbandonsPromptlyWhenCancelledMidRequest) {
  start();
  script(function_, {answer(200).with_delay(10s)});
  std::optional<Outcome> outcome;
  const auto took = cancel_when([&] { return function_.request_count() == 1; }, outcome);
  EXPECT_EQ(outcome, Outcome::abandoned);
  EXPECT_LT(took, 200ms);
  EXPECT_EQ(value(counters().delivered), 0);
  EXPECT_EQ(value(counters().attempts_2xx) + value(counters().attempts_timeout) +
                value(counters().attempts_connect_error),
            0)
      << "an attempt cut short by cancellation has no result to count";
}

TEST_F(DispatcherCancelTest, AbandonsPromptlyWhenCancelledWhileWaitingForAConcurrencySlot) {
  function().max_concurrency = 1;
  start();
  script(function_, {answer(200).with_delay(10s)});
  auto busy_delivery = spawn("busy");

  std::optional<Outcome> outcome;
  const auto took = cancel_when([&] { return function_.request_count() == 1; }, outcome, "waiting");
  EXPECT_EQ(outcome, Outcome::abandoned);
  EXPECT_LT(took, 200ms);
  EXPECT_EQ(function_.request_count(), 1u) << "the waiting event never reached the function";

  busy_delivery->cancel();
  run_until([&] { return busy_delivery->outcome.has_value(); });
  EXPECT_EQ(busy_delivery->outcome, Outcome::abandoned);
}

TEST_F(DispatcherCancelTest, AbandonsWhileTheDeadLetterIsDownInsteadOfDroppingTheEvent) {
  trigger().delivery.backoff = {config::BackoffPolicy::constant, 10s, 10s};
  start_dead_lettering({answer(400)}, std::vector<StubStep>(5, answer(503)));
  std::optional<Outcome> outcome;
  // Some time after the first write failed: waiting to write again, or writing again.
  std::optional<Clock::time_point> first_write;
  const auto took = cancel_when(
      [&] {
        if (!first_write && dead_letter_.request_count() >= 1) first_write = Clock::now();
        return first_write && Clock::now() - *first_write >= 50ms;
      },
      outcome);
  EXPECT_EQ(outcome, Outcome::abandoned);
  EXPECT_LT(took, 200ms);
  EXPECT_EQ(value(counters().dead_lettered), 0);
  EXPECT_EQ(value(counters().dropped_rejected), 0);
}

}  // namespace
}  // namespace triggerd
