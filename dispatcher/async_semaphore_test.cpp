#include "dispatcher/async_semaphore.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <string>
#include <vector>

namespace triggerd {
namespace {

namespace asio = boost::asio;

// Takes a permit, notes who got it, and holds it until `release` is called.
asio::awaitable<void> take(AsyncSemaphore& semaphore, std::string name,
                           std::vector<std::string>& order, bool& acquired) {
  acquired = co_await semaphore.acquire();
  if (acquired) order.push_back(name);
}

TEST(AsyncSemaphore, HandsPermitsToWaitersInArrivalOrder) {
  asio::io_context io;
  AsyncSemaphore semaphore(io.get_executor(), 1);
  ASSERT_TRUE(semaphore.try_acquire());
  std::vector<std::string> order;
  bool a = false, b = false, c = false;
  asio::co_spawn(io, take(semaphore, "a", order, a), asio::detached);
  asio::co_spawn(io, take(semaphore, "b", order, b), asio::detached);
  asio::co_spawn(io, take(semaphore, "c", order, c), asio::detached);
  io.poll();
  EXPECT_EQ(semaphore.waiting(), 3u);
  EXPECT_TRUE(order.empty());

  semaphore.release();
  io.poll();
  EXPECT_EQ(order, (std::vector<std::string>{"a"}));
  semaphore.release();
  semaphore.release();
  io.poll();
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(semaphore.available(), 0u);
  semaphore.release();
  EXPECT_EQ(semaphore.available(), 1u);
}

TEST(AsyncSemaphore, CancelledWaiterLeavesTheQueueWithoutAPermit) {
  asio::io_context io;
  AsyncSemaphore semaphore(io.get_executor(), 1);
  ASSERT_TRUE(semaphore.try_acquire());
  std::vector<std::string> order;
  bool a = true, b = false;
  asio::cancellation_signal cancel_a;
  asio::co_spawn(io, take(semaphore, "a", order, a),
                 asio::bind_cancellation_slot(cancel_a.slot(), asio::detached));
  asio::co_spawn(io, take(semaphore, "b", order, b), asio::detached);
  io.poll();
  ASSERT_EQ(semaphore.waiting(), 2u);

  cancel_a.emit(asio::cancellation_type::terminal);
  io.poll();
  EXPECT_FALSE(a);
  EXPECT_EQ(semaphore.waiting(), 1u);

  semaphore.release();
  io.poll();
  EXPECT_TRUE(b);
  EXPECT_EQ(order, (std::vector<std::string>{"b"}));
}

TEST(AsyncSemaphore, DoesNotWaitAtAllWhenAlreadyCancelled) {
  asio::io_context io;
  AsyncSemaphore semaphore(io.get_executor(), 0);
  std::vector<std::string> order;
  bool a = true;
  asio::cancellation_signal cancel;
  // Cancelled before it starts: the state says so, and acquire must not then sleep forever.
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await asio::this_coro::throw_if_cancelled(false);
        asio::steady_timer pause(io, std::chrono::milliseconds(1));
        co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
        co_await take(semaphore, "a", order, a);
      },
      asio::bind_cancellation_slot(cancel.slot(), asio::detached));
  cancel.emit(asio::cancellation_type::terminal);
  io.run_for(std::chrono::seconds(1));
  EXPECT_FALSE(a);
  EXPECT_EQ(semaphore.waiting(), 0u);
}

TEST(AsyncSemaphore, TryAcquireDoesNotJumpTheQueue) {
  asio::io_context io;
  AsyncSemaphore semaphore(io.get_executor(), 1);
  ASSERT_TRUE(semaphore.try_acquire());
  std::vector<std::string> order;
  bool a = false;
  asio::co_spawn(io, take(semaphore, "a", order, a), asio::detached);
  io.poll();
  semaphore.release();  // handed to "a", not made available
  EXPECT_FALSE(semaphore.try_acquire());
  io.poll();
  EXPECT_TRUE(a);
}

}  // namespace
}  // namespace triggerd
