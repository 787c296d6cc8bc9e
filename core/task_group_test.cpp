#include "core/task_group.hpp"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace triggerd {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

asio::awaitable<void> sleep_for(std::chrono::milliseconds delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<void> fail_after(std::chrono::milliseconds delay) {
  co_await sleep_for(delay);
  throw std::runtime_error("the ack loop broke");
}

TEST(TaskGroup, CountsATaskThatThrowsAndKeepsTheOthersRunning) {
  asio::io_context io;
  std::vector<std::string> counted;
  TaskGroup group(io.get_executor(), "redis-stream",
                  [&](std::string_view component) { counted.emplace_back(component); });
  group.spawn("ack loop", fail_after(10ms));
  group.spawn("read loop", sleep_for(50ms));
  std::size_t left_at_deadline = 99;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        left_at_deadline = co_await group.wait_until(std::chrono::steady_clock::now() + 5s);
      },
      asio::detached);
  io.run();
  EXPECT_EQ(left_at_deadline, 0u);
  EXPECT_EQ(group.failed(), 1u);
  EXPECT_EQ(counted, std::vector<std::string>{"redis-stream"});
}

TEST(TaskGroup, WaitEndsAtTheDeadlineWithWhatStillRuns) {
  asio::io_context io;
  TaskGroup group(io.get_executor(), "kafka", nullptr);
  group.spawn("poll", sleep_for(2s));
  group.spawn("quick", sleep_for(1ms));
  std::size_t left = 0;
  std::chrono::steady_clock::duration waited{};
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        const auto started = std::chrono::steady_clock::now();
        left = co_await group.wait_until(started + 100ms);
        waited = std::chrono::steady_clock::now() - started;
        io.stop();
      },
      asio::detached);
  io.run();
  EXPECT_EQ(left, 1u);
  EXPECT_GE(waited, 100ms);
  EXPECT_LT(waited, 1500ms);
}

TEST(TaskGroup, TwoWaitersBothWakeWhenTheLastTaskEnds) {
  asio::io_context io;
  TaskGroup group(io.get_executor(), "app", nullptr);
  group.spawn("work", sleep_for(20ms));
  int woken = 0;
  for (int i = 0; i < 2; ++i) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          if (co_await group.wait_until(std::chrono::steady_clock::now() + 5s) == 0) ++woken;
        },
        asio::detached);
  }
  const auto started = std::chrono::steady_clock::now();
  io.run();
  EXPECT_EQ(woken, 2);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

}  // namespace
}  // namespace triggerd
