#include "core/task_group.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <utility>
#include <vector>

#include "core/logging.hpp"

namespace triggerd {

namespace asio = boost::asio;

struct TaskGroup::State {
  State(asio::any_io_executor ex, std::string name, FailureCounter counter)
      : executor(std::move(ex)),
        component(std::move(name)),
        count_failure(std::move(counter)) {}

  asio::any_io_executor executor;
  const std::string component;
  FailureCounter count_failure;
  std::size_t running = 0;
  std::size_t failed = 0;
  // The timers of the wait_until() calls under way (each set to its caller's deadline): a
  // task that ends cancels them all, which wakes every waiter to look again.
  std::vector<asio::steady_timer*> waiters;
};

TaskGroup::TaskGroup(asio::any_io_executor executor, std::string component,
                     FailureCounter count_failure)
    : state_(std::make_shared<State>(std::move(executor), std::move(component),
                                     std::move(count_failure))) {}

TaskGroup::~TaskGroup() = default;

void TaskGroup::spawn(std::string_view what, asio::awaitable<void> task) {
  ++state_->running;
  asio::co_spawn(state_->executor, std::move(task),
                 [state = state_, what = std::string(what)](const std::exception_ptr& failure) {
                   --state->running;
                   if (failure) {
                     ++state->failed;
                     std::string reason = "unknown exception";
                     try {
                       std::rethrow_exception(failure);
                     } catch (const std::exception& error) {
                       reason = error.what();
                     } catch (...) {
                     }
                     logging::get("triggerd")
                         ->error("{}: {} failed: {}; counted in triggerd_internal_errors_total",
                                 state->component, what, reason);
                     if (state->count_failure) state->count_failure(state->component);
                   }
                   for (asio::steady_timer* waiter : state->waiters) waiter->cancel();
                 });
}

std::size_t TaskGroup::running() const { return state_->running; }
std::size_t TaskGroup::failed() const { return state_->failed; }

asio::awaitable<std::size_t> TaskGroup::wait_until(std::chrono::steady_clock::time_point deadline) {
  const std::shared_ptr<State> state = state_;
  asio::steady_timer timer(state->executor);
  state->waiters.push_back(&timer);
  while (state->running > 0 && std::chrono::steady_clock::now() < deadline) {
    timer.expires_at(deadline);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  std::erase(state->waiters, &timer);
  co_return state->running;
}

}  // namespace triggerd
