#pragma once
// Demand mode's inputs (docs/autoscaling.md): once a second, each trigger's arrival rate (events
// taken per second) and mean event duration (taken to finished), smoothed over 30 s, from the
// counters the event path keeps anyway. Nothing is added to the path of an event.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>
#include <vector>

#include "core/metrics.hpp"
#include "core/smoothed.hpp"

namespace triggerd {

class DemandSampler {
 public:
  static constexpr std::chrono::seconds kInterval{1};
  static constexpr std::chrono::seconds kWindow{30};

  // `metrics` must outlive the sampler.
  DemandSampler(boost::asio::any_io_executor executor, Metrics& metrics);

  // Samples every kInterval until stop().
  boost::asio::awaitable<void> run();
  void stop();

  // One sampling step `elapsed` after the last: exposed for tests.
  void sample(std::chrono::duration<double> elapsed);

 private:
  struct Trigger {
    std::shared_ptr<TriggerTelemetry> telemetry;
    double received = 0;   // counter values at the last sample
    double finished = 0;
    double duration_sum = 0;
    Smoothed arrival_rate{kWindow};
    Smoothed mean_duration{kWindow};
  };

  // Follows the triggers of metrics_ (a reload adds and removes some): in the same order.
  void follow_triggers();

  Metrics& metrics_;
  std::shared_ptr<const TriggerList> followed_;  // the snapshot triggers_ follows
  std::vector<Trigger> triggers_;
  boost::asio::steady_timer timer_;
  bool stopped_ = false;
};

}  // namespace triggerd
