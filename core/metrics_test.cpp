#include "core/metrics.hpp"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/summary.h>
#include <prometheus/text_serializer.h>

#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace triggerd {
namespace {

std::vector<MonitoredTrigger> two_triggers() {
  MonitoredTrigger orders{.name = "orders", .function = "resize", .source_type = "kafka"};
  orders.scaling = {
      .target_per_replica = 10, .activation = 0, .min_replicas = 0, .max_replicas = 5};
  MonitoredTrigger ticks{.name = "ticks", .function = "report", .source_type = "cron"};
  ticks.cron = true;
  ticks.scaling.min_replicas = 2;
  return {orders, ticks};
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Every one of `lines` is in the exported `text`.
void expect_lines(const std::string& text, std::initializer_list<std::string_view> lines) {
  for (std::string_view line : lines) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
}

TEST(Metrics, ExposesEverySeriesOfEveryTriggerBeforeAnyWork) {
  Metrics metrics(two_triggers(), "1.2.3");
  const std::string text = metrics.serialize();
  for (const std::string trigger : {"orders", "ticks"}) {
    const std::string label = "trigger=\"" + trigger + "\"";
    for (const std::string name :
         {"triggerd_events_received_total", "triggerd_events_delivered_total",
          "triggerd_events_dead_lettered_total", "triggerd_queue_depth", "triggerd_inflight_events",
          "triggerd_source_up", "triggerd_events_filtered_total",
          "triggerd_delivery_duration_seconds_count",
          "triggerd_event_duration_seconds_count"}) {
      EXPECT_TRUE(contains(text, name + "{" + label + "} 0")) << name << " for " << trigger;
    }
    for (const std::string reason : {"retries_exhausted", "rejected"}) {
      EXPECT_TRUE(contains(text, "reason=\"" + reason + "\"")) << reason;
    }
    for (const std::string result : {"2xx", "4xx", "5xx", "timeout", "connect_error"}) {
      EXPECT_TRUE(contains(text, "result=\"" + result + "\",trigger=\"" + trigger + "\"} 0"))
          << result << " for " << trigger;
    }
  }
  expect_lines(text, {"triggerd_build_info{version=\"1.2.3\"} 1",
                      "triggerd_config_reloads_total{result=\"success\"} 0",
                      "triggerd_config_reloads_total{result=\"failure\"} 0",
                      "triggerd_desired_replicas{function=\"resize\",trigger=\"orders\"} 0",
                      "triggerd_desired_replicas{function=\"report\",trigger=\"ticks\"} 2"});
  EXPECT_TRUE(contains(text, "le=\"0.001\"")) << "buckets start at 1 ms";
  EXPECT_TRUE(contains(text, "le=\"60\"")) << "buckets reach 60 s";
}

TEST(Metrics, DegradedModesHaveTheirOwnSeries) {
  Metrics metrics(two_triggers(), "1.2.3");
  TriggerTelemetry& orders = *metrics.find("orders");
  orders.metrics.dead_letter_failures(DeadLetterFailure::kTemporary).Increment(3);
  orders.metrics.dead_letter_failures(DeadLetterFailure::kPermanent).Increment();
  orders.metrics.dropped(DropReason::kDeadLetterFailed).Increment();
  orders.state.count_source_error(SourceError::kCommit);
  orders.state.count_source_error(SourceError::kCommit);
  orders.state.count_internal_error("kafka");
  metrics.internal_errors().count("app");

  EXPECT_EQ(orders.dropped(), 1) << "a dead letter that failed drops the event";
  const std::string text = metrics.serialize();
  expect_lines(text,
               {"triggerd_dead_letter_failures_total{reason=\"temporary\",trigger=\"orders\"} 3",
                "triggerd_dead_letter_failures_total{reason=\"permanent\",trigger=\"orders\"} 1",
                "triggerd_events_dropped_total{reason=\"dead_letter_failed\",trigger=\"orders\"} 1",
                "triggerd_source_errors_total{kind=\"commit\",trigger=\"orders\"} 2",
                "triggerd_source_errors_total{kind=\"ack\",trigger=\"orders\"} 0",
                "triggerd_internal_errors_total{component=\"kafka\"} 1",
                "triggerd_internal_errors_total{component=\"app\"} 1",
                // The other trigger's series stay at zero.
                "triggerd_source_errors_total{kind=\"commit\",trigger=\"ticks\"} 0"});
}

TEST(Metrics, WebhookRefusalsAreSeriesOfHttpTriggersFromTheStart) {
  std::vector<MonitoredTrigger> triggers = two_triggers();
  triggers.push_back({.name = "hook", .function = "report", .source_type = "http", .http = true});
  Metrics metrics(triggers, "1.2.3");
  std::string text = metrics.serialize();
  expect_lines(text, {"triggerd_webhook_rejected_total{status=\"401\",trigger=\"hook\"} 0",
                      "triggerd_webhook_rejected_total{status=\"404\",trigger=\"\"} 0"});
  EXPECT_FALSE(contains(text, "triggerd_webhook_rejected_total{status=\"401\",trigger=\"orders\"}"))
      << "only http triggers refuse webhook requests";
  metrics.count_webhook_rejected("hook", 401);
  metrics.count_webhook_rejected("", 404);
  metrics.count_webhook_rejected("hook", 401);
  text = metrics.serialize();
  expect_lines(text, {"triggerd_webhook_rejected_total{status=\"401\",trigger=\"hook\"} 2",
                      "triggerd_webhook_rejected_total{status=\"404\",trigger=\"\"} 1"});
}

TEST(Metrics, StateSettersFeedBothTheGaugesAndTheAdminView) {
  Metrics metrics(two_triggers(), "1.2.3");
  const auto orders = metrics.find("orders");
  ASSERT_NE(orders, nullptr);
  orders->state.set_queue_depth(27);
  orders->state.add_inflight(+5);
  orders->state.add_inflight(-1);
  orders->state.set_source_up(true);

  EXPECT_EQ(orders->state.queue_depth(), 27);
  EXPECT_EQ(orders->state.inflight(), 4);
  EXPECT_EQ(orders->state.backlog(), 31);
  EXPECT_TRUE(orders->state.source_up());
  EXPECT_EQ(orders->metrics.queue_depth.Value(), 27);
  EXPECT_EQ(orders->metrics.source_up.Value(), 1);
  EXPECT_EQ(orders->desired_replicas(), 4);  // ceil(31 / 10)
  EXPECT_TRUE(orders->active());

  const std::string text = metrics.serialize();
  expect_lines(text, {"triggerd_desired_replicas{function=\"resize\",trigger=\"orders\"} 4",
                      "triggerd_queue_depth{trigger=\"orders\"} 27",
                      // In flight is kept in the state alone and copied into the series at
                      // each scrape.
                      "triggerd_inflight_events{trigger=\"orders\"} 4"});
  orders->state.add_inflight(+2);
  EXPECT_TRUE(contains(metrics.serialize(), "triggerd_inflight_events{trigger=\"orders\"} 6"));
}

TEST(Metrics, HandleCountersAreTheExportedSeries) {
  Metrics metrics(two_triggers(), "1.2.3");
  TriggerTelemetry& ticks = *metrics.find("ticks");
  ticks.metrics.received.Increment();
  ticks.metrics.delivered.Increment(3);
  ticks.metrics.dead_lettered.Increment();
  ticks.metrics.dropped(DropReason::kRejected).Increment();
  ticks.metrics.dropped(DropReason::kRetriesExhausted).Increment(2);
  ticks.metrics.attempts(AttemptResult::kConnectError).Increment();
  ticks.metrics.delivery_duration.Observe(0.02);

  EXPECT_EQ(ticks.delivered(), 3);
  EXPECT_EQ(ticks.dead_lettered(), 1);
  EXPECT_EQ(ticks.dropped(), 3);
  const std::string text = metrics.serialize();
  expect_lines(text,
               {"triggerd_events_delivered_total{trigger=\"ticks\"} 3",
                "triggerd_events_dropped_total{reason=\"retries_exhausted\",trigger=\"ticks\"} 2",
                "triggerd_delivery_attempts_total{result=\"connect_error\",trigger=\"ticks\"} 1",
                "triggerd_delivery_duration_seconds_count{trigger=\"ticks\"} 1",
                // The other trigger's series are untouched.
                "triggerd_events_delivered_total{trigger=\"orders\"} 0"});
}

TEST(Metrics, ReadinessNeedsEverySourceUp) {
  Metrics metrics(two_triggers(), "1.2.3");
  EXPECT_FALSE(metrics.all_sources_up());
  metrics.find("orders")->state.set_source_up(true);
  EXPECT_FALSE(metrics.all_sources_up());
  metrics.find("ticks")->state.set_source_up(true);
  EXPECT_TRUE(metrics.all_sources_up());
}

TEST(Metrics, CountsReloadsByResult) {
  Metrics metrics(two_triggers(), "1.2.3");
  metrics.count_reload(false);
  metrics.count_reload(false);
  metrics.count_reload(true);
  const std::string text = metrics.serialize();
  expect_lines(text, {"triggerd_config_reloads_total{result=\"failure\"} 2",
                      "triggerd_config_reloads_total{result=\"success\"} 1"});
}

TEST(Metrics, UnknownTriggerIsNotFound) {
  Metrics metrics(two_triggers(), "1.2.3");
  EXPECT_EQ(metrics.find("nope"), nullptr);
}

TEST(Metrics, ATriggerAddedByAReloadHasEverySeriesAtZeroAndComesLast) {
  Metrics metrics(two_triggers(), "1.2.3");
  MonitoredTrigger hook{.name = "hook", .function = "resize", .source_type = "http"};
  hook.http = true;
  const auto added = metrics.add_trigger(hook);
  ASSERT_NE(added, nullptr);
  EXPECT_EQ(metrics.find("hook"), added);
  const auto list = metrics.triggers();
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ(list->back()->name, "hook");
  expect_lines(metrics.serialize(),
               {"triggerd_events_received_total{trigger=\"hook\"} 0",
                "triggerd_desired_replicas{function=\"resize\",trigger=\"hook\"} 0",
                "triggerd_webhook_rejected_total{status=\"401\",trigger=\"hook\"} 0"});
}

TEST(Metrics, ARebindKeepsTheCountersAndMovesTheFunctionSeries) {
  Metrics metrics(two_triggers(), "1.2.3");
  const auto orders = metrics.find("orders");
  orders->metrics.delivered.Increment(5);
  orders->state.add_inflight(3);
  MonitoredTrigger rebound = two_triggers()[0];
  rebound.function = "thumbnail";
  rebound.scaling.activation = 10;  // backlog 3 is no longer above it
  const auto before = orders->active();
  metrics.update_trigger(rebound);
  EXPECT_TRUE(before);
  EXPECT_FALSE(orders->active());
  EXPECT_EQ(metrics.find("orders"), orders) << "the same telemetry: nothing reset";
  EXPECT_EQ(orders->function(), "thumbnail");
  const std::string text = metrics.serialize();
  expect_lines(text, {"triggerd_events_delivered_total{trigger=\"orders\"} 5",
                      "triggerd_inflight_events{trigger=\"orders\"} 3",
                      "triggerd_desired_replicas{function=\"thumbnail\",trigger=\"orders\"}"});
  EXPECT_FALSE(contains(text, "function=\"resize\",trigger=\"orders\""));
}

TEST(Metrics, ARemovedTriggerLeavesNoSeriesButItsHoldersCanStillReadIt) {
  std::vector<MonitoredTrigger> triggers = two_triggers();
  triggers[0].http = true;
  Metrics metrics(triggers, "1.2.3");
  metrics.count_webhook_rejected("orders", 404);  // a series made on first use
  const auto held = metrics.triggers();
  const auto orders = metrics.find("orders");
  orders->state.add_inflight(2);
  metrics.remove_trigger("orders");
  EXPECT_EQ(metrics.find("orders"), nullptr);
  EXPECT_EQ(metrics.triggers()->size(), 1u);
  EXPECT_EQ(held->size(), 2u) << "a snapshot taken before is not changed under its reader";
  EXPECT_EQ(orders->state.backlog_total(), 2);
  const std::string text = metrics.serialize();
  EXPECT_FALSE(contains(text, "trigger=\"orders\"")) << text;
  EXPECT_TRUE(contains(text, "triggerd_events_received_total{trigger=\"ticks\"} 0"));
  // Added again later: a new trigger, from zero.
  const auto again = metrics.add_trigger(triggers[0]);
  EXPECT_NE(again, orders);
  EXPECT_TRUE(contains(metrics.serialize(), "triggerd_inflight_events{trigger=\"orders\"} 0"));
}

TEST(Metrics, OrdersTriggersAsTheNewConfigDoes) {
  Metrics metrics(two_triggers(), "1.2.3");
  metrics.add_trigger({.name = "hook", .function = "resize", .source_type = "http"});
  metrics.order_triggers({"hook", "ticks", "orders"});
  const auto list = metrics.triggers();
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0]->name, "hook");
  EXPECT_EQ((*list)[1]->name, "ticks");
  EXPECT_EQ((*list)[2]->name, "orders");
}

TEST(AttemptResultLabel, MatchesTheSpecNames) {
  EXPECT_STREQ(attempt_result_label(AttemptResult::k2xx), "2xx");
  EXPECT_STREQ(attempt_result_label(AttemptResult::k4xx), "4xx");
  EXPECT_STREQ(attempt_result_label(AttemptResult::k5xx), "5xx");
  EXPECT_STREQ(attempt_result_label(AttemptResult::kTimeout), "timeout");
  EXPECT_STREQ(attempt_result_label(AttemptResult::kConnectError), "connect_error");
  EXPECT_STREQ(drop_reason_label(DropReason::kRetriesExhausted), "retries_exhausted");
  EXPECT_STREQ(drop_reason_label(DropReason::kRejected), "rejected");
}

TEST(Metrics, TextFormatWritesWhatPrometheusCppsSerializerWrites) {
  // The fast writer must not change a byte of what scrapers read: compare it with
  // prometheus-cpp's own serializer on awkward values and label texts.
  prometheus::Registry registry;
  auto& counters = prometheus::BuildCounter().Name("c_total").Help("A counter.").Register(registry);
  counters.Add({{"trigger", "a\"quoted\\back\nline"}}).Increment(0.1);
  counters.Add({{"trigger", "b"}, {"result", "2xx"}}).Increment(1e21);
  counters.Add({{"trigger", "c"}}).Increment(0.1 + 0.2);
  auto& gauges = prometheus::BuildGauge().Name("g").Register(registry);  // no help
  gauges.Add({}).Set(-3.5);
  gauges.Add({{"x", "nan"}}).Set(std::numeric_limits<double>::quiet_NaN());
  gauges.Add({{"x", "inf"}}).Set(-std::numeric_limits<double>::infinity());
  gauges.Add({{"x", "tiny"}}).Set(1.25e-7);
  auto& histograms = prometheus::BuildHistogram().Name("h_seconds").Help("H.").Register(registry);
  auto& histogram = histograms.Add(
      {{"trigger", "t"}}, prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.1, 2.5, 60});
  for (double v : {0.0004, 0.002, 0.05, 0.05, 3.0, 100.0}) histogram.Observe(v);
  auto& summaries = prometheus::BuildSummary().Name("s").Help("S.").Register(registry);
  summaries.Add({}, prometheus::Summary::Quantiles{{0.5, 0.05}}).Observe(2);

  const auto families = registry.Collect();
  EXPECT_EQ(text_format(families), prometheus::TextSerializer().Serialize(families));
  EXPECT_EQ(text_format(families, 1 << 20), prometheus::TextSerializer().Serialize(families));
}

}  // namespace
}  // namespace triggerd
