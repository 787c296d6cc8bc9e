// A Redis source's drain state: waits cut to the close deadline, the close waiting for the
// background loops, and the loops that outlive it counted.
#include "connectors/redis/redis_source_drain.hpp"

#include <gtest/gtest.h>
#include <prometheus/counter.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <exception>
#include <memory>
#include <string>

#include "connectors/redis/redis_source_context_for_tests.hpp"

namespace triggerd::redis {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Rig {
  Rig()
      : source(6379),  // never connected to
        telemetry(source.telemetry),
        drain(io.get_executor(), "redis-test", source.context) {}

  template <typename Done>
  bool run_until(Done done, std::chrono::milliseconds limit = 5s) {
    const auto until = Clock::now() + limit;
    while (!done() && Clock::now() < until) io.run_for(5ms);
    return done();
  }

  asio::io_context io;
  SourceContextForTests source;
  TriggerTelemetry& telemetry;
  SourceDrain drain;
};

// A background loop as a source has them: it ends once the drain closes.
asio::awaitable<void> loop_until_closing(const SourceDrain& drain, asio::steady_timer& timer) {
  while (!drain.closing()) co_await drain.sleep(timer, 10ms);
}

// One that does not look.
asio::awaitable<void> sleep_on(asio::steady_timer& timer, std::chrono::milliseconds delay) {
  timer.expires_after(delay);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

// What run() does at its end, with the connections' close left out. (A free function: g++ 12
// warns falsely on coroutine lambdas.)
asio::awaitable<void> close_and_reap(SourceDrain& drain, std::size_t& left, bool& done) {
  left = co_await drain.closed();
  co_await drain.reap(left);
  done = true;
}

TEST(SourceDrain, CutsTimeoutsToTheCloseDeadlineOnlyOnceClosing) {
  Rig rig;
  EXPECT_EQ(rig.drain.bounded(5000ms), 5000ms);
  EXPECT_TRUE(rig.drain.stop());
  EXPECT_FALSE(rig.drain.stop());
  EXPECT_TRUE(rig.drain.stopped());
  EXPECT_EQ(rig.drain.bounded(5000ms), 5000ms);  // stopped, not closing: acks go on as before
  EXPECT_TRUE(rig.drain.close(Clock::now() + 100ms));
  EXPECT_FALSE(rig.drain.close(Clock::now() + 10s));  // the first deadline holds
  EXPECT_LE(rig.drain.bounded(5000ms), 100ms);
  EXPECT_GE(rig.drain.bounded(5000ms), 1ms);
  EXPECT_EQ(rig.drain.bounded(10ms), 10ms);  // never longer than asked
  rig.run_until([] { return false; }, 150ms);
  EXPECT_EQ(rig.drain.bounded(5000ms), 1ms);  // past the deadline
}

TEST(SourceDrain, ASleepEndsAtTheCloseDeadline) {
  Rig rig;
  rig.drain.stop();
  rig.drain.close(Clock::now() + 100ms);
  asio::steady_timer timer(rig.io);
  bool woke = false;
  const auto started = Clock::now();
  asio::co_spawn(rig.io, rig.drain.sleep(timer, 10s),
                 [&woke](const std::exception_ptr&) { woke = true; });
  ASSERT_TRUE(rig.run_until([&] { return woke; }));
  EXPECT_LT(Clock::now() - started, 1s);
}

TEST(SourceDrain, ClosedWaitsForTheCloseAndThenForTheLoops) {
  Rig rig;
  asio::steady_timer timer(rig.io);
  rig.drain.spawn("loop", loop_until_closing(rig.drain, timer));
  bool closed = false;
  std::size_t left = 99;
  asio::co_spawn(rig.io, rig.drain.closed(), [&](const std::exception_ptr&, std::size_t running) {
    closed = true;
    left = running;
  });
  rig.drain.stop();
  EXPECT_FALSE(rig.run_until([&] { return closed; }, 100ms));  // stopped is not closed
  rig.drain.close(Clock::now() + 2s);
  ASSERT_TRUE(rig.run_until([&] { return closed; }, 1s));
  EXPECT_EQ(left, 0U);
}

TEST(SourceDrain, ALoopStillRunningAfterTheCloseIsCountedAsAnInternalError) {
  Rig rig;
  asio::steady_timer timer(rig.io);
  rig.drain.spawn("deaf loop", sleep_on(timer, 1s));
  bool reaped = false;
  std::size_t left = 0;
  asio::co_spawn(rig.io, close_and_reap(rig.drain, left, reaped), [](const std::exception_ptr&) {});
  rig.drain.stop();
  rig.drain.close(Clock::now() + 50ms);
  ASSERT_TRUE(rig.run_until([&] { return reaped; }));
  EXPECT_EQ(left, 1U);
  EXPECT_NE(rig.source.metrics.serialize().find(
                "triggerd_internal_errors_total{component=\"redis-test\"} 1"),
            std::string::npos);
}

TEST(SourceDrain, AReadFailureIsCountedUnlessTheStopCausedIt) {
  Rig rig;
  rig.drain.count_read_failure();
  EXPECT_EQ(rig.telemetry.metrics.source_errors_command.Value(), 1.0);
  rig.drain.stop();  // closes the reading connection: the read under way fails
  rig.drain.count_read_failure();
  EXPECT_EQ(rig.telemetry.metrics.source_errors_command.Value(), 1.0);
}

}  // namespace
}  // namespace triggerd::redis
