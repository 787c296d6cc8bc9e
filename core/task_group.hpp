#pragma once
// Background coroutines that must not die silently and that a shutdown can wait for: a
// component's loops (a source's reader and acknowledger, the app's depth refresh) are spawned
// into a group; when one ends with an exception it is logged at error level with the component
// and counted in triggerd_internal_errors_total{component}, and whoever owns the group awaits
// them all with wait_until() instead of polling flags the loops set on their way out.
//
// Single-threaded: spawn and wait on the group's executor. The completion of a task may come
// after the group is gone (the group's state is shared with its tasks), never before.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace triggerd {

class TaskGroup {
 public:
  // Called once per task that ended with an exception, after it is logged; typically
  // InternalErrors::count.
  using FailureCounter = std::function<void(std::string_view component)>;

  TaskGroup(boost::asio::any_io_executor executor, std::string component,
            FailureCounter count_failure);
  ~TaskGroup();
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;

  // Starts `task`. `what` names it in the error log line ("ack loop").
  void spawn(std::string_view what, boost::asio::awaitable<void> task);

  // Tasks started and not yet ended.
  std::size_t running() const;
  // Tasks that ended with an exception so far.
  std::size_t failed() const;

  // Completes once no task is running, or at `deadline`; returns how many still run.
  boost::asio::awaitable<std::size_t> wait_until(std::chrono::steady_clock::time_point deadline);

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace triggerd
