#include "broker/demand_sampler.hpp"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>

#include <boost/asio/io_context.hpp>
#include <chrono>

#include "core/metrics.hpp"

namespace triggerd {
namespace {

using namespace std::chrono_literals;

std::vector<MonitoredTrigger> two_triggers() {
  std::vector<MonitoredTrigger> triggers;
  for (const char* name : {"slow", "fast"}) {
    triggers.push_back({.name = name, .function = "fn", .source_type = "redis-list"});
    triggers.back().scaling.mode = ScalingMode::kDemand;
  }
  return triggers;
}

// `events` taken and finished in one interval, each taking `duration`.
void run_events(TriggerTelemetry& trigger, int events, double duration) {
  trigger.metrics.received.Increment(events);
  for (int i = 0; i < events; ++i) trigger.metrics.event_duration.Observe(duration);
}

TEST(DemandSampler, ReadsRateAndMeanDurationFromTheCountersAndPublishesThem) {
  boost::asio::io_context io;
  Metrics metrics(two_triggers(), "9.9.9");
  DemandSampler sampler(io.get_executor(), metrics);
  TriggerTelemetry& slow = *metrics.find("slow");
  TriggerTelemetry& fast = *metrics.find("fast");

  for (int second = 0; second < 5; ++second) {
    run_events(slow, 100, 0.2);
    run_events(fast, 100, 0.005);
    sampler.sample(1s);
  }
  EXPECT_NEAR(slow.demand().arrival_rate, 100, 1e-6);
  EXPECT_NEAR(slow.demand().mean_event_duration, 0.2, 1e-6);
  EXPECT_NEAR(fast.demand().mean_event_duration, 0.005, 1e-6);

  // The same arrival rate, forty times the duration: more replicas for the slow function.
  slow.state.add_inflight(1);
  fast.state.add_inflight(1);
  EXPECT_EQ(slow.desired_replicas(), 3);  // (100 + 1/30) * 0.2 / 10, rounded up
  EXPECT_EQ(fast.desired_replicas(), 1);

  const std::string text = metrics.serialize();
  EXPECT_NE(text.find("triggerd_arrival_rate{trigger=\"slow\"} 100"), std::string::npos) << text;
  EXPECT_NE(text.find("triggerd_mean_event_duration_seconds{trigger=\"fast\"} 0.00"),
            std::string::npos);
}

TEST(DemandSampler, AQuietIntervalLowersTheRateAndKeepsTheDuration) {
  boost::asio::io_context io;
  Metrics metrics(two_triggers(), "9.9.9");
  DemandSampler sampler(io.get_executor(), metrics);
  TriggerTelemetry& slow = *metrics.find("slow");
  run_events(slow, 60, 0.5);
  sampler.sample(1s);
  sampler.sample(1s);  // nothing happened
  EXPECT_NEAR(slow.demand().arrival_rate, 30, 1e-6);
  EXPECT_NEAR(slow.demand().mean_event_duration, 0.5, 1e-6);
}

TEST(DemandSampler, FilteredEventsAreNoDemandOnTheFunction) {
  boost::asio::io_context io;
  Metrics metrics(two_triggers(), "9.9.9");
  DemandSampler sampler(io.get_executor(), metrics);
  TriggerTelemetry& slow = *metrics.find("slow");
  for (int second = 0; second < 5; ++second) {
    run_events(slow, 10, 0.2);
    // Taken, filtered out, acknowledged: never sent.
    slow.metrics.received.Increment(90);
    slow.metrics.filtered.Increment(90);
    sampler.sample(1s);
  }
  EXPECT_NEAR(slow.demand().arrival_rate, 10, 1e-6);
}

}  // namespace
}  // namespace triggerd
