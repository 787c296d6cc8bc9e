#include "broker/teardown_watchdog.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>

#include "core/logging.hpp"

namespace triggerd {

TeardownWatchdog::~TeardownWatchdog() { disarm(); }

void TeardownWatchdog::arm(std::chrono::steady_clock::time_point deadline) {
  std::lock_guard lock(mutex_);
  if (disarmed_) return;
  if (deadline_ && *deadline_ <= deadline) return;
  deadline_ = deadline;
  if (!thread_.joinable()) {
    thread_ = std::thread([this] { watch(); });
  } else {
    changed_.notify_all();
  }
}

void TeardownWatchdog::disarm() {
  {
    std::lock_guard lock(mutex_);
    disarmed_ = true;
    changed_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void TeardownWatchdog::watch() {
  std::unique_lock lock(mutex_);
  while (!disarmed_) {
    const auto deadline = *deadline_;
    if (std::chrono::steady_clock::now() >= deadline) {
      lock.unlock();
      logging::get("triggerd")
          ->error("teardown did not finish by its deadline (server.shutdown_timeout, or a "
                  "second stop signal); exiting now, leaving what is unacknowledged at the "
                  "sources for redelivery");
      spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& logger) { logger->flush(); });
      std::_Exit(0);
    }
    changed_.wait_until(lock, deadline);
  }
}

}  // namespace triggerd
