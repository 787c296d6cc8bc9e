#pragma once
// Where a Redis source is in its drain (Source::stop_taking, then Source::close), and the
// background loops the close waits for. Every loop of the source reads this one state; once
// closing, each wait and timeout it takes is cut to the close deadline (bounded, sleep), which
// is how run() returns by that deadline.
//
// run(), once it has stopped taking:
//   std::size_t left = co_await drain.closed();  // close() came; the loops ended, or the deadline
//   ...close the connections (that ends a command still waiting for its reply)...
//   co_await drain.reap(left);
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <string_view>

#include "connectors/redis/redis_source_context.hpp"
#include "core/task_group.hpp"

namespace triggerd::redis {

class SourceDrain {
 public:
  // `component` names the source kind in triggerd_internal_errors_total ("redis-list"); it and
  // `context` must outlive this object.
  SourceDrain(boost::asio::any_io_executor executor, const char* component,
              const SourceContext& context);

  // Starts a background loop of the source; `what` names it in the error log line.
  void spawn(std::string_view what, boost::asio::awaitable<void> task);

  // True the first time: nothing more is taken from then on.
  bool stop();
  // True the first time: what is owed is flushed by `deadline`. After stop().
  bool close(std::chrono::steady_clock::time_point deadline);

  bool stopped() const { return stopped_; }
  bool closing() const { return closing_; }
  std::chrono::steady_clock::time_point deadline() const { return deadline_; }
  // `timeout`, cut to what is left before the close deadline once closing (1 ms at least).
  std::chrono::milliseconds bounded(std::chrono::milliseconds timeout) const;
  // Waits `delay` on `timer`, or less once closing: never past the close deadline.
  boost::asio::awaitable<void> sleep(boost::asio::steady_timer& timer,
                                     std::chrono::milliseconds delay) const;

  // A read that failed, counted (kind="command") unless the stop caused it by closing the
  // reading connection.
  void count_read_failure();

  // Waits for close(), then for the background loops until its deadline; how many still run.
  boost::asio::awaitable<std::size_t> closed();
  // After closed() and the connections' close: `left` loops get a moment more to see that;
  // any still running then is logged and counted as an internal error.
  boost::asio::awaitable<void> reap(std::size_t left);

 private:
  const char* const component_;
  const SourceContext& context_;
  boost::asio::steady_timer close_wake_;  // closed() waits here for close()
  TaskGroup tasks_;
  bool stopped_ = false;
  bool closing_ = false;
  std::chrono::steady_clock::time_point deadline_;
};

}  // namespace triggerd::redis
