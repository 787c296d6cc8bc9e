#include "broker/demand_sampler.hpp"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace triggerd {

namespace asio = boost::asio;

DemandSampler::DemandSampler(asio::any_io_executor executor, Metrics& metrics)
    : metrics_(metrics), timer_(std::move(executor)) {
  follow_triggers();
}

void DemandSampler::follow_triggers() {
  auto current = metrics_.triggers();
  if (current == followed_) return;  // the same snapshot: no reload since the last sample
  std::vector<Trigger> next;
  next.reserve(current->size());
  for (const auto& telemetry : *current) {
    auto kept = std::find_if(triggers_.begin(), triggers_.end(),
                             [&](const Trigger& t) { return t.telemetry == telemetry; });
    // A trigger new to the sampler starts from zero, like its counters.
    next.push_back(kept != triggers_.end() ? std::move(*kept) : Trigger{.telemetry = telemetry});
  }
  triggers_ = std::move(next);
  followed_ = std::move(current);
}

asio::awaitable<void> DemandSampler::run() {
  auto last = std::chrono::steady_clock::now();
  while (!stopped_) {
    timer_.expires_after(kInterval);
    auto [error] = co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (error || stopped_) co_return;
    const auto now = std::chrono::steady_clock::now();
    sample(now - last);
    last = now;
  }
}

void DemandSampler::stop() {
  stopped_ = true;
  timer_.cancel();
}

void DemandSampler::sample(std::chrono::duration<double> elapsed) {
  if (elapsed.count() <= 0) return;
  follow_triggers();
  for (Trigger& trigger : triggers_) {
    TriggerMetrics& metrics = trigger.telemetry->metrics;
    // Filtered events never reach the function: they are no demand on it.
    const double received = metrics.received.Value() - metrics.filtered.Value();
    // Once a second per trigger; Collect() copies the buckets, which is fine at that pace.
    const prometheus::ClientMetric durations = metrics.event_duration.Collect();
    const auto finished = static_cast<double>(durations.histogram.sample_count);
    const double duration_sum = durations.histogram.sample_sum;

    trigger.arrival_rate.add((received - trigger.received) / elapsed.count(), elapsed);
    // With nothing finished in the interval there is nothing new to say about durations.
    if (finished > trigger.finished) {
      trigger.mean_duration.add((duration_sum - trigger.duration_sum) / (finished - trigger.finished),
                                elapsed);
    }
    trigger.received = received;
    trigger.finished = finished;
    trigger.duration_sum = duration_sum;
    trigger.telemetry->set_demand(
        Demand{trigger.arrival_rate.value(), trigger.mean_duration.value()});
  }
}

}  // namespace triggerd
