#pragma once
// A counting semaphore for coroutines on one executor: the `max_concurrency` of a function.
//
// Waiters queue in FIFO order, so an event that has waited longest gets the next slot and no
// event starves behind newer ones. A waiter sleeps on its own never-expiring timer until
// release() hands it a permit (by cancelling that timer); no polling. Waiting is cancellable
// through the coroutine's cancellation slot, which is how a drain stops an event that is still
// waiting for a slot. Not thread-safe: use it from the thread that runs its executor.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstddef>
#include <list>
#include <utility>

namespace triggerd {

class AsyncSemaphore {
 public:
  AsyncSemaphore(boost::asio::any_io_executor executor, std::size_t permits)
      : executor_(std::move(executor)), available_(permits) {}
  AsyncSemaphore(const AsyncSemaphore&) = delete;
  AsyncSemaphore& operator=(const AsyncSemaphore&) = delete;

  // Takes a permit, waiting for one if none is free. Returns false, without a permit, when the
  // calling coroutine was cancelled before or while waiting. With true the caller owns a permit
  // and must release() it, even if a cancellation arrived just after the permit was handed over.
  boost::asio::awaitable<bool> acquire();

  bool try_acquire() {
    if (available_ == 0 || !waiters_.empty()) return false;
    --available_;
    return true;
  }

  // Returns a permit: straight to the longest waiter if there is one. noexcept: it runs in
  // destructors, and cancelling a timer cannot fail.
  void release() noexcept {
    if (waiters_.empty()) {
      ++available_;
      return;
    }
    Waiter* next = waiters_.front();
    waiters_.pop_front();
    next->queued = false;
    next->granted = true;
    next->timer.cancel();  // completes its wait (posted, never inline)
  }

  std::size_t available() const { return available_; }
  std::size_t waiting() const { return waiters_.size(); }

 private:
  struct Waiter {
    Waiter(AsyncSemaphore& owner, const boost::asio::any_io_executor& executor)
        : semaphore(owner), timer(executor, boost::asio::steady_timer::time_point::max()) {}
    // A coroutine frame may be destroyed while it waits (io_context torn down): leave no
    // dangling entry behind.
    ~Waiter() {
      if (queued) semaphore.waiters_.erase(position);
    }
    Waiter(const Waiter&) = delete;
    Waiter& operator=(const Waiter&) = delete;

    AsyncSemaphore& semaphore;
    boost::asio::steady_timer timer;
    std::list<Waiter*>::iterator position;
    bool queued = false;
    bool granted = false;
  };

  boost::asio::any_io_executor executor_;
  std::size_t available_;
  std::list<Waiter*> waiters_;
};

inline boost::asio::awaitable<bool> AsyncSemaphore::acquire() {
  namespace asio = boost::asio;
  const asio::cancellation_state cancel_state = co_await asio::this_coro::cancellation_state;
  // A cancellation that came before this wait started would never reach the timer below.
  if (cancel_state.cancelled() != asio::cancellation_type::none) co_return false;
  if (try_acquire()) co_return true;
  Waiter waiter(*this, executor_);
  waiter.position = waiters_.insert(waiters_.end(), &waiter);
  waiter.queued = true;
  // Ends with operation_aborted either way: granted by release(), or cancelled by the caller.
  co_await waiter.timer.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return waiter.granted;  // when not granted, ~Waiter takes it out of the queue
}

// Holds one permit for a scope.
class SemaphorePermit {
 public:
  SemaphorePermit() = default;
  explicit SemaphorePermit(AsyncSemaphore& semaphore) : semaphore_(&semaphore) {}
  SemaphorePermit(SemaphorePermit&& other) noexcept
      : semaphore_(std::exchange(other.semaphore_, nullptr)) {}
  SemaphorePermit& operator=(SemaphorePermit&& other) noexcept {
    if (this != &other) {
      reset();
      semaphore_ = std::exchange(other.semaphore_, nullptr);
    }
    return *this;
  }
  ~SemaphorePermit() { reset(); }

  void reset() {
    if (semaphore_ != nullptr) std::exchange(semaphore_, nullptr)->release();
  }

 private:
  AsyncSemaphore* semaphore_ = nullptr;
};

}  // namespace triggerd
