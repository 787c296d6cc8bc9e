#include "connectors/redis/redis_source_drain.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/metrics.hpp"

namespace triggerd::redis {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// How long loops still running at the close deadline get to see their connections closed.
constexpr auto kReapGrace = 200ms;

}  // namespace

SourceDrain::SourceDrain(asio::any_io_executor executor, const char* component,
                         const SourceContext& context)
    : component_(component),
      context_(context),
      close_wake_(executor),
      tasks_(executor, component, [&state = context.state](std::string_view name) {
        state.count_internal_error(name);
      }) {}

void SourceDrain::spawn(std::string_view what, asio::awaitable<void> task) {
  tasks_.spawn(what, std::move(task));
}

bool SourceDrain::stop() {
  if (stopped_) return false;
  stopped_ = true;
  return true;
}

bool SourceDrain::close(std::chrono::steady_clock::time_point deadline) {
  if (closing_) return false;
  closing_ = true;
  deadline_ = deadline;
  close_wake_.cancel();
  return true;
}

std::chrono::milliseconds SourceDrain::bounded(std::chrono::milliseconds timeout) const {
  if (!closing_) return timeout;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline_ - std::chrono::steady_clock::now());
  return std::clamp(left, 1ms, timeout);
}

asio::awaitable<void> SourceDrain::sleep(asio::steady_timer& timer,
                                         std::chrono::milliseconds delay) const {
  timer.expires_after(bounded(delay));
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

void SourceDrain::count_read_failure() {
  if (!stopped_) context_.state.count_source_error(SourceError::kCommand);
}

asio::awaitable<std::size_t> SourceDrain::closed() {
  while (!closing_) {
    close_wake_.expires_at(std::chrono::steady_clock::time_point::max());
    co_await close_wake_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  co_return co_await tasks_.wait_until(deadline_);
}

asio::awaitable<void> SourceDrain::reap(std::size_t left) {
  if (left == 0) co_return;
  left = co_await tasks_.wait_until(std::chrono::steady_clock::now() + kReapGrace);
  if (left > 0) {
    context_.log->error("trigger {}: {} background task(s) still running after the close",
                        context_.trigger, left);
    context_.state.count_internal_error(component_);
  }
}

}  // namespace triggerd::redis
