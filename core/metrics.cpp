#include "core/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <type_traits>
#include <utility>

#include "core/desired_replicas.hpp"

namespace triggerd {
namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

// From a 1 ms webhook-sized call to the 60 s a slow function may take; roughly 1-2.5-5 steps
// so that a p99 read from the buckets is within a factor of about two anywhere in the range.
const Histogram::BucketBoundaries& duration_buckets() {
  static const Histogram::BucketBoundaries kBuckets{
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  return kBuckets;
}

// The name and help text of one family.
struct FamilyDoc {
  const char* name;
  const char* help;
};

// Every family of docs/metrics.md, in the order they are registered (and, within each type,
// listed on /metrics).
constexpr FamilyDoc kBuildInfo{"triggerd_build_info",
                               "Always 1; the version label says which triggerd is running."};
constexpr FamilyDoc kConfigReloads{"triggerd_config_reloads_total",
                                   "Configuration reloads (SIGHUP), by result."};
constexpr FamilyDoc kScalerStreams{
    "triggerd_scaler_streams",
    "StreamIsActive streams open on the KEDA external scaler (server.scaler_listen)."};
constexpr FamilyDoc kConfigWatched{
    "triggerd_config_watched",
    "1 while the config file is watched for changes (server.watch_config), else 0."};
constexpr FamilyDoc kInternalErrors{"triggerd_internal_errors_total",
                                    "Background work that failed, by component."};
constexpr FamilyDoc kWebhookRejected{"triggerd_webhook_rejected_total",
                                     "Webhook requests refused, by HTTP status."};
constexpr FamilyDoc kReceived{"triggerd_events_received_total", "Events taken from the source."};
constexpr FamilyDoc kDelivered{"triggerd_events_delivered_total",
                               "Events the function answered with 2xx."};
constexpr FamilyDoc kDeadLettered{"triggerd_events_dead_lettered_total",
                                  "Events written to the dead letter."};
constexpr FamilyDoc kDropped{
    "triggerd_events_dropped_total",
    "Events given up without being delivered or dead-lettered, by reason: rejected and "
    "retries_exhausted (no dead letter), dead_letter_failed (the dead letter refused it, or "
    "kept failing past its retry_for)."};
constexpr FamilyDoc kAttempts{"triggerd_delivery_attempts_total",
                              "Delivery attempts to the function, by result."};
constexpr FamilyDoc kQueueDepth{"triggerd_queue_depth",
                                "Events waiting at the source, not yet taken."};
constexpr FamilyDoc kInflight{"triggerd_inflight_events",
                              "Events taken and not finished, including those waiting to retry."};
constexpr FamilyDoc kDesiredReplicas{"triggerd_desired_replicas",
                                     "Replicas the function should run for the current backlog."};
constexpr FamilyDoc kBacklogTotal{
    "triggerd_backlog_total",
    "The trigger's unfinished work as the queue sees it, the same on every replica."};
constexpr FamilyDoc kArrivalRate{
    "triggerd_arrival_rate",
    "Events taken per second that passed the filters, smoothed (demand mode's input)."};
constexpr FamilyDoc kMeanEventDuration{
    "triggerd_mean_event_duration_seconds",
    "Mean time from event taken to finished, smoothed (demand mode's input)."};
constexpr FamilyDoc kActivationWaits{
    "triggerd_activation_waits_total",
    "Events that waited for their function to wake instead of using up retries."};
constexpr FamilyDoc kFiltered{
    "triggerd_events_filtered_total",
    "Events that did not pass the trigger's filters: acknowledged at once, never sent."};
constexpr FamilyDoc kDeliveryDuration{"triggerd_delivery_duration_seconds",
                                      "One delivery attempt, from request sent to answer read."};
constexpr FamilyDoc kEventDuration{
    "triggerd_event_duration_seconds",
    "From event taken to event finished (delivered, dead-lettered or dropped)."};
constexpr FamilyDoc kSourceUp{"triggerd_source_up", "1 when the trigger's source is connected."};
constexpr FamilyDoc kCronTicksSkipped{"triggerd_cron_ticks_skipped_total",
                                      "Cron ticks not fired because the trigger was at "
                                      "max_inflight."};
constexpr FamilyDoc kDeadLetterFailures{
    "triggerd_dead_letter_failures_total",
    "Dead-letter writes that failed, by reason: temporary (retried) or permanent."};
constexpr FamilyDoc kSourceErrors{"triggerd_source_errors_total",
                                  "Source-side failures, by kind: connect, command, ack, commit."};

// `builder` is prometheus::BuildCounter(), BuildGauge() or BuildHistogram().
template <typename Builder>
auto& declare(Builder builder, prometheus::Registry& registry, const FamilyDoc& doc) {
  return builder.Name(doc.name).Help(doc.help).Register(registry);
}

// The families with a series per trigger, registered once per registry in this order.
struct TriggerFamilies {
  explicit TriggerFamilies(prometheus::Registry& into) : registry(into) {}

  prometheus::Registry& registry;  // first: the members below are registered on it
  Family<Counter>& received = declare(prometheus::BuildCounter(), registry, kReceived);
  Family<Counter>& delivered = declare(prometheus::BuildCounter(), registry, kDelivered);
  Family<Counter>& dead_lettered = declare(prometheus::BuildCounter(), registry, kDeadLettered);
  Family<Counter>& dropped = declare(prometheus::BuildCounter(), registry, kDropped);
  Family<Counter>& attempts = declare(prometheus::BuildCounter(), registry, kAttempts);
  Family<Gauge>& queue_depth = declare(prometheus::BuildGauge(), registry, kQueueDepth);
  Family<Gauge>& inflight = declare(prometheus::BuildGauge(), registry, kInflight);
  Family<Gauge>& desired_replicas = declare(prometheus::BuildGauge(), registry, kDesiredReplicas);
  Family<Gauge>& backlog_total = declare(prometheus::BuildGauge(), registry, kBacklogTotal);
  Family<Gauge>& arrival_rate = declare(prometheus::BuildGauge(), registry, kArrivalRate);
  Family<Gauge>& mean_event_duration =
      declare(prometheus::BuildGauge(), registry, kMeanEventDuration);
  Family<Counter>& activation_waits =
      declare(prometheus::BuildCounter(), registry, kActivationWaits);
  Family<Counter>& filtered = declare(prometheus::BuildCounter(), registry, kFiltered);
  Family<Histogram>& delivery_duration =
      declare(prometheus::BuildHistogram(), registry, kDeliveryDuration);
  Family<Histogram>& event_duration =
      declare(prometheus::BuildHistogram(), registry, kEventDuration);
  Family<Gauge>& source_up = declare(prometheus::BuildGauge(), registry, kSourceUp);
  Family<Counter>& cron_ticks_skipped =
      declare(prometheus::BuildCounter(), registry, kCronTicksSkipped);
  Family<Counter>& dead_letter_failures =
      declare(prometheus::BuildCounter(), registry, kDeadLetterFailures);
  Family<Counter>& source_errors = declare(prometheus::BuildCounter(), registry, kSourceErrors);
};

TriggerMetrics make_trigger_metrics(TriggerFamilies& families, InternalErrors& internal_errors,
                                    const MonitoredTrigger& trigger) {
  const prometheus::Labels base{{"trigger", trigger.name}};
  // The trigger's series of a family with one more label, e.g. result="2xx".
  auto labelled = [&base](Family<Counter>& family, const char* key, const char* value) -> Counter& {
    prometheus::Labels labels = base;
    labels.emplace(key, value);
    return family.Add(labels);
  };
  auto attempts = [&](AttemptResult result) -> Counter& {
    return labelled(families.attempts, "result", attempt_result_label(result));
  };
  auto dropped = [&](DropReason reason) -> Counter& {
    return labelled(families.dropped, "reason", drop_reason_label(reason));
  };
  auto dead_letter_failures = [&](DeadLetterFailure failure) -> Counter& {
    return labelled(families.dead_letter_failures, "reason", dead_letter_failure_label(failure));
  };
  auto source_errors = [&](SourceError error) -> Counter& {
    return labelled(families.source_errors, "kind", source_error_label(error));
  };
  prometheus::Labels function_labels = base;
  function_labels.emplace("function", trigger.function);

  return TriggerMetrics{
      .received = families.received.Add(base),
      .delivered = families.delivered.Add(base),
      .dead_lettered = families.dead_lettered.Add(base),
      .dropped_retries_exhausted = dropped(DropReason::kRetriesExhausted),
      .dropped_rejected = dropped(DropReason::kRejected),
      .dropped_dead_letter_failed = dropped(DropReason::kDeadLetterFailed),
      .attempts_2xx = attempts(AttemptResult::k2xx),
      .attempts_4xx = attempts(AttemptResult::k4xx),
      .attempts_5xx = attempts(AttemptResult::k5xx),
      .attempts_timeout = attempts(AttemptResult::kTimeout),
      .attempts_connect_error = attempts(AttemptResult::kConnectError),
      .delivery_duration = families.delivery_duration.Add(base, duration_buckets()),
      .event_duration = families.event_duration.Add(base, duration_buckets()),
      .queue_depth = families.queue_depth.Add(base),
      .inflight = families.inflight.Add(base),
      .source_up = families.source_up.Add(base),
      .desired_replicas = &families.desired_replicas.Add(function_labels),
      .backlog_total = families.backlog_total.Add(base),
      .arrival_rate = families.arrival_rate.Add(base),
      .mean_event_duration = families.mean_event_duration.Add(base),
      .activation_waits = families.activation_waits.Add(base),
      .filtered = families.filtered.Add(base),
      .cron_ticks_skipped = trigger.cron ? &families.cron_ticks_skipped.Add(base) : nullptr,
      .dead_letter_failures_temporary = dead_letter_failures(DeadLetterFailure::kTemporary),
      .dead_letter_failures_permanent = dead_letter_failures(DeadLetterFailure::kPermanent),
      .source_errors_connect = source_errors(SourceError::kConnect),
      .source_errors_command = source_errors(SourceError::kCommand),
      .source_errors_ack = source_errors(SourceError::kAck),
      .source_errors_commit = source_errors(SourceError::kCommit),
      .internal_errors = internal_errors,
  };
}

void append_double(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "Nan";
  } else if (std::isinf(value)) {
    out += value < 0 ? "-Inf" : "+Inf";
  } else {
    char buffer[64];
    // %.16g, as prometheus-cpp's ostream writes it (precision max_digits10 - 1).
    auto [end, error] =
        std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::general,
                      std::numeric_limits<double>::max_digits10 - 1);
    out.append(buffer, error == std::errc() ? end : buffer);
  }
}

void append_uint(std::string& out, std::uint64_t value) {
  char buffer[24];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, error == std::errc() ? end : buffer);
}

void append_label_value(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\n') {
      out += "\\n";
    } else {
      if (c == '\\' || c == '"') out += '\\';
      out += c;
    }
  }
}

// NAME{labels} with an optional extra label (a histogram's le), then a space.
void append_head(std::string& out, const prometheus::MetricFamily& family,
                 const prometheus::ClientMetric& metric, std::string_view suffix,
                 std::string_view le = {}) {
  out += family.name;
  out += suffix;
  if (!metric.label.empty() || !le.empty()) {
    out += '{';
    const char* separator = "";
    for (const auto& label : metric.label) {
      out += separator;
      out += label.name;
      out += "=\"";
      append_label_value(out, label.value);
      out += '"';
      separator = ",";
    }
    if (!le.empty()) {
      out += separator;
      out += "le=\"";
      out += le;
      out += '"';
    }
    out += '}';
  }
  out += ' ';
}

void append_tail(std::string& out, const prometheus::ClientMetric& metric) {
  if (metric.timestamp_ms != 0) {
    out += ' ';
    out += std::to_string(metric.timestamp_ms);
  }
  out += '\n';
}

// Counters are doubles in prometheus-cpp; event counts stay far below 2^53, so this is exact.
std::int64_t count(const Counter& counter) { return std::llround(counter.Value()); }

// Removes every series of `family` whose `trigger` label is `trigger`. Found by the labels that
// Collect() shows rather than through TriggerMetrics, so that none is missed (webhook
// rejections are made on first use); Add() with labels that exist returns that series.
template <typename T>
void remove_series_of(Family<T>& family, const std::string& trigger) {
  std::vector<prometheus::Labels> found;
  for (const auto& collected : family.Collect()) {
    for (const auto& metric : collected.metric) {
      prometheus::Labels labels;
      for (const auto& pair : metric.label) labels.emplace(pair.name, pair.value);
      const auto it = labels.find("trigger");
      if (it != labels.end() && it->second == trigger) found.push_back(std::move(labels));
    }
  }
  for (const auto& labels : found) {
    if constexpr (std::is_same_v<T, Histogram>) {
      family.Remove(&family.Add(labels, duration_buckets()));
    } else {
      family.Remove(&family.Add(labels));
    }
  }
}

constexpr const char* kWebhookStatuses[] = {"400", "401", "405", "413", "431", "503"};

}  // namespace

struct Metrics::Families : TriggerFamilies {
  using TriggerFamilies::TriggerFamilies;
};

const char* attempt_result_label(AttemptResult result) {
  switch (result) {
    case AttemptResult::k2xx:
      return "2xx";
    case AttemptResult::k4xx:
      return "4xx";
    case AttemptResult::k5xx:
      return "5xx";
    case AttemptResult::kTimeout:
      return "timeout";
    case AttemptResult::kConnectError:
      return "connect_error";
  }
  return "unknown";
}

const char* drop_reason_label(DropReason reason) {
  switch (reason) {
    case DropReason::kRetriesExhausted:
      return "retries_exhausted";
    case DropReason::kRejected:
      return "rejected";
    case DropReason::kDeadLetterFailed:
      return "dead_letter_failed";
  }
  return "unknown";
}

const char* dead_letter_failure_label(DeadLetterFailure failure) {
  return failure == DeadLetterFailure::kTemporary ? "temporary" : "permanent";
}

const char* source_error_label(SourceError error) {
  switch (error) {
    case SourceError::kConnect:
      return "connect";
    case SourceError::kCommand:
      return "command";
    case SourceError::kAck:
      return "ack";
    case SourceError::kCommit:
      return "commit";
  }
  return "unknown";
}

InternalErrors::InternalErrors(prometheus::Registry& registry)
    : family_(declare(prometheus::BuildCounter(), registry, kInternalErrors)) {}

void InternalErrors::count(std::string_view component) {
  family_.Add({{"component", std::string(component)}}).Increment();
}

prometheus::Counter& TriggerMetrics::dropped(DropReason reason) const {
  switch (reason) {
    case DropReason::kRetriesExhausted:
      return dropped_retries_exhausted;
    case DropReason::kRejected:
      return dropped_rejected;
    case DropReason::kDeadLetterFailed:
      break;
  }
  return dropped_dead_letter_failed;
}

prometheus::Counter& TriggerMetrics::dead_letter_failures(DeadLetterFailure failure) const {
  return failure == DeadLetterFailure::kTemporary ? dead_letter_failures_temporary
                                                  : dead_letter_failures_permanent;
}

prometheus::Counter& TriggerMetrics::source_errors(SourceError error) const {
  switch (error) {
    case SourceError::kConnect:
      return source_errors_connect;
    case SourceError::kCommand:
      return source_errors_command;
    case SourceError::kAck:
      return source_errors_ack;
    case SourceError::kCommit:
      break;
  }
  return source_errors_commit;
}

prometheus::Counter& TriggerMetrics::attempts(AttemptResult result) const {
  switch (result) {
    case AttemptResult::k2xx:
      return attempts_2xx;
    case AttemptResult::k4xx:
      return attempts_4xx;
    case AttemptResult::k5xx:
      return attempts_5xx;
    case AttemptResult::kTimeout:
      return attempts_timeout;
    case AttemptResult::kConnectError:
      break;
  }
  return attempts_connect_error;
}

void TriggerState::set_queue_depth(std::int64_t depth) {
  queue_depth_.store(depth, std::memory_order_relaxed);
  metrics_.queue_depth.Set(static_cast<double>(depth));
  update_activity();
}

void TriggerState::set_backlog_total(std::int64_t backlog_total) {
  reported_total_.store(std::max<std::int64_t>(backlog_total, 0), std::memory_order_relaxed);
  update_activity();
}

void TriggerState::add_inflight(std::int64_t delta) {
  // Twice per event: only the atomic here; the gauge is copied from it when /metrics is read
  // (publish_gauges), a prometheus Gauge change being a compare-and-swap loop on a double.
  inflight_.fetch_add(delta, std::memory_order_relaxed);
  update_activity();
}

std::int64_t TriggerState::backlog_total() const {
  return std::max(reported_total_.load(std::memory_order_relaxed), backlog());
}

void TriggerState::update_activity() {
  // Under load the activity does not change and this is one load and a compare; the exchange
  // and the listener run only at the edges. Two threads racing here may both see a flip; the
  // last exchange wins and the next change of any number puts it right.
  const bool now = backlog_total() > activation_.load(std::memory_order_relaxed);
  if (active_.load(std::memory_order_relaxed) == now) return;
  if (active_.exchange(now, std::memory_order_relaxed) != now && listener_) listener_(now);
}

void TriggerState::set_activation(std::int64_t activation) {
  activation_.store(activation, std::memory_order_relaxed);
  update_activity();
}

void TriggerState::publish_gauges() const {
  metrics_.inflight.Set(static_cast<double>(inflight()));
  metrics_.backlog_total.Set(static_cast<double>(backlog_total()));
}

void TriggerState::set_source_up(bool up) {
  source_up_.store(up, std::memory_order_relaxed);
  metrics_.source_up.Set(up ? 1 : 0);
}

void TriggerState::count_source_error(SourceError error) {
  metrics_.source_errors(error).Increment();
}

void TriggerState::count_internal_error(std::string_view component) {
  metrics_.internal_errors.count(component);
}

TriggerTelemetry::TriggerTelemetry(const MonitoredTrigger& trigger, TriggerMetrics trigger_metrics)
    : name(trigger.name),
      metrics(trigger_metrics),
      state(metrics, trigger.scaling.activation),
      binding_(trigger) {}

std::string TriggerTelemetry::function() const {
  std::lock_guard lock(binding_mutex_);
  return binding_.function;
}

std::string TriggerTelemetry::source_type() const {
  std::lock_guard lock(binding_mutex_);
  return binding_.source_type;
}

Scaling TriggerTelemetry::scaling() const {
  std::lock_guard lock(binding_mutex_);
  return binding_.scaling;
}

void TriggerTelemetry::set_demand(const Demand& demand) {
  arrival_rate_.store(demand.arrival_rate, std::memory_order_relaxed);
  mean_event_duration_.store(demand.mean_event_duration, std::memory_order_relaxed);
  metrics.arrival_rate.Set(demand.arrival_rate);
  metrics.mean_event_duration.Set(demand.mean_event_duration);
}

Demand TriggerTelemetry::demand() const {
  return Demand{arrival_rate_.load(std::memory_order_relaxed),
                mean_event_duration_.load(std::memory_order_relaxed)};
}

std::int64_t TriggerTelemetry::desired_replicas() const {
  return replicas_for(scaling(), state.backlog_total(), demand());
}

std::int64_t TriggerTelemetry::delivered() const { return count(metrics.delivered); }
std::int64_t TriggerTelemetry::dead_lettered() const { return count(metrics.dead_lettered); }
std::int64_t TriggerTelemetry::dropped() const {
  return count(metrics.dropped_retries_exhausted) + count(metrics.dropped_rejected) +
         count(metrics.dropped_dead_letter_failed);
}

Metrics::Metrics(const std::vector<MonitoredTrigger>& triggers, std::string_view version)
    : registry_(std::make_shared<prometheus::Registry>()) {
  declare(prometheus::BuildGauge(), *registry_, kBuildInfo)
      .Add({{"version", std::string(version)}})
      .Set(1);
  auto& reloads = declare(prometheus::BuildCounter(), *registry_, kConfigReloads);
  reloads_success_ = &reloads.Add({{"result", "success"}});
  reloads_failure_ = &reloads.Add({{"result", "failure"}});
  // Declared (at 0) with or without server.scaler_listen, like every process-wide series.
  scaler_streams_ = &declare(prometheus::BuildGauge(), *registry_, kScalerStreams).Add({});
  config_watched_ = &declare(prometheus::BuildGauge(), *registry_, kConfigWatched).Add({});

  internal_errors_ = std::make_unique<InternalErrors>(*registry_);
  webhook_rejected_ = &declare(prometheus::BuildCounter(), *registry_, kWebhookRejected);
  webhook_rejected_->Add({{"trigger", ""}, {"status", "404"}});

  families_ = std::make_unique<Families>(*registry_);
  // One list for all of them: adding them one by one would copy it once per trigger.
  auto list = std::make_shared<TriggerList>();
  list->reserve(triggers.size());
  for (const MonitoredTrigger& trigger : triggers) list->push_back(make_telemetry(trigger));
  triggers_ = std::move(list);
  refresh_gauges();
}

Metrics::~Metrics() = default;

std::shared_ptr<const TriggerList> Metrics::triggers() const {
  std::lock_guard lock(triggers_mutex_);
  return triggers_;
}

std::shared_ptr<TriggerTelemetry> Metrics::find(std::string_view trigger) const {
  const auto list = triggers();
  auto it = std::find_if(list->begin(), list->end(),
                         [trigger](const auto& t) { return t->name == trigger; });
  return it == list->end() ? nullptr : *it;
}

bool Metrics::all_sources_up() const {
  const auto list = triggers();
  return std::all_of(list->begin(), list->end(), [](const auto& t) {
    return t->state.source_up() || t->state.restarting();
  });
}

std::shared_ptr<TriggerTelemetry> Metrics::make_telemetry(const MonitoredTrigger& trigger) {
  auto telemetry = std::make_shared<TriggerTelemetry>(
      trigger, make_trigger_metrics(*families_, *internal_errors_, trigger));
  if (trigger.http) {
    for (const char* status : kWebhookStatuses) {
      webhook_rejected_->Add({{"trigger", trigger.name}, {"status", status}});
    }
  }
  return telemetry;
}

std::shared_ptr<TriggerTelemetry> Metrics::add_trigger(const MonitoredTrigger& trigger) {
  if (auto existing = find(trigger.name)) {
    update_trigger(trigger);
    return existing;
  }
  auto telemetry = make_telemetry(trigger);
  auto list = std::make_shared<TriggerList>(*triggers());
  list->push_back(telemetry);
  std::lock_guard lock(triggers_mutex_);
  triggers_ = std::move(list);
  return telemetry;
}

void Metrics::update_trigger(const MonitoredTrigger& trigger) {
  const auto telemetry = find(trigger.name);
  if (!telemetry) return;
  MonitoredTrigger before;
  {
    std::lock_guard lock(telemetry->binding_mutex_);
    before = std::exchange(telemetry->binding_, trigger);
  }
  TriggerMetrics& metrics = telemetry->metrics;
  if (before.function != trigger.function) {
    Gauge* old = metrics.desired_replicas;
    metrics.desired_replicas =
        &families_->desired_replicas.Add({{"trigger", trigger.name}, {"function", trigger.function}});
    families_->desired_replicas.Remove(old);
  }
  // Once a cron trigger, the series stays until the trigger is removed: a source that is
  // draining may still count a skipped tick on it.
  if (trigger.cron && metrics.cron_ticks_skipped == nullptr) {
    metrics.cron_ticks_skipped = &families_->cron_ticks_skipped.Add({{"trigger", trigger.name}});
  }
  if (trigger.http && !before.http) {
    for (const char* status : kWebhookStatuses) {
      webhook_rejected_->Add({{"trigger", trigger.name}, {"status", status}});
    }
  }
  telemetry->state.set_activation(trigger.scaling.activation);
}

void Metrics::order_triggers(const std::vector<std::string>& names) {
  auto list = std::make_shared<TriggerList>(*triggers());
  auto rank = [&names](const std::shared_ptr<TriggerTelemetry>& t) {
    return std::find(names.begin(), names.end(), t->name) - names.begin();
  };
  std::stable_sort(list->begin(), list->end(),
                   [&](const auto& a, const auto& b) { return rank(a) < rank(b); });
  std::lock_guard lock(triggers_mutex_);
  triggers_ = std::move(list);
}

void Metrics::remove_trigger(std::string_view name) {
  const auto telemetry = find(name);
  if (!telemetry) return;
  {
    auto list = std::make_shared<TriggerList>(*triggers());
    std::erase(*list, telemetry);
    std::lock_guard lock(triggers_mutex_);
    triggers_ = std::move(list);
  }
  const std::string trigger(name);
  auto remove_from = [&trigger](auto& family) { remove_series_of(family, trigger); };
  Families& f = *families_;
  remove_from(f.received);
  remove_from(f.delivered);
  remove_from(f.dead_lettered);
  remove_from(f.dropped);
  remove_from(f.attempts);
  remove_from(f.queue_depth);
  remove_from(f.inflight);
  remove_from(f.desired_replicas);
  remove_from(f.backlog_total);
  remove_from(f.arrival_rate);
  remove_from(f.mean_event_duration);
  remove_from(f.activation_waits);
  remove_from(f.filtered);
  remove_from(f.delivery_duration);
  remove_from(f.event_duration);
  remove_from(f.source_up);
  remove_from(f.cron_ticks_skipped);
  remove_from(f.dead_letter_failures);
  remove_from(f.source_errors);
  remove_from(*webhook_rejected_);
}

void Metrics::count_reload(bool success) {
  (success ? reloads_success_ : reloads_failure_)->Increment();
}

void Metrics::count_webhook_rejected(std::string_view trigger, int status) {
  webhook_rejected_->Add({{"trigger", std::string(trigger)}, {"status", std::to_string(status)}})
      .Increment();
}

void Metrics::refresh_gauges() {
  for (const auto& trigger : *triggers()) {
    trigger->state.publish_gauges();
    trigger->metrics.desired_replicas->Set(static_cast<double>(trigger->desired_replicas()));
  }
}

std::string text_format(const std::vector<prometheus::MetricFamily>& families,
                        std::size_t size_hint) {
  std::string out;
  out.reserve(size_hint);
  std::string le;
  for (const prometheus::MetricFamily& family : families) {
    const char* type = family.type == prometheus::MetricType::Counter     ? "counter"
                       : family.type == prometheus::MetricType::Gauge     ? "gauge"
                       : family.type == prometheus::MetricType::Histogram ? "histogram"
                                                                          : nullptr;
    if (type == nullptr) {
      // triggerd declares no summaries or untyped families; prometheus-cpp's own writer
      // covers them should one appear.
      out += prometheus::TextSerializer().Serialize({family});
      continue;
    }
    if (!family.help.empty()) {
      out += "# HELP ";
      out += family.name;
      out += ' ';
      out += family.help;
      out += '\n';
    }
    // A gauge whose contract name ends in _total (triggerd_backlog_total) is declared untyped:
    // promtool's lint refuses a gauge with that suffix and accepts an untyped family, and
    // Prometheus stores and queries both alike.
    if (family.type == prometheus::MetricType::Gauge && family.name.ends_with("_total")) {
      type = "untyped";
    }
    out += "# TYPE ";
    out += family.name;
    out += ' ';
    out += type;
    out += '\n';
    switch (family.type) {
      case prometheus::MetricType::Counter:
        for (const auto& metric : family.metric) {
          append_head(out, family, metric, "");
          append_double(out, metric.counter.value);
          append_tail(out, metric);
        }
        break;
      case prometheus::MetricType::Gauge:
        for (const auto& metric : family.metric) {
          append_head(out, family, metric, "");
          append_double(out, metric.gauge.value);
          append_tail(out, metric);
        }
        break;
      case prometheus::MetricType::Histogram:
        for (const auto& metric : family.metric) {
          const auto& histogram = metric.histogram;
          append_head(out, family, metric, "_count");
          append_uint(out, histogram.sample_count);
          append_tail(out, metric);
          append_head(out, family, metric, "_sum");
          append_double(out, histogram.sample_sum);
          append_tail(out, metric);
          double last = -std::numeric_limits<double>::infinity();
          for (const auto& bucket : histogram.bucket) {
            le.clear();
            append_double(le, bucket.upper_bound);
            append_head(out, family, metric, "_bucket", le);
            append_uint(out, bucket.cumulative_count);
            append_tail(out, metric);
            last = bucket.upper_bound;
          }
          if (last != std::numeric_limits<double>::infinity()) {
            append_head(out, family, metric, "_bucket", "+Inf");
            append_uint(out, histogram.sample_count);
            append_tail(out, metric);
          }
        }
        break;
      default:
        break;
    }
  }
  return out;
}

std::string Metrics::serialize() {
  refresh_gauges();
  // prometheus-cpp's TextSerializer goes through an ostringstream and printf per number: with
  // 1000 triggers (3.5 MB, 51 000 lines) that held the event loop, and so every delivery and
  // cron tick, for 70-110 ms per scrape. Same text, written straight into one string.
  std::string text = text_format(registry_->Collect(), last_size_ + last_size_ / 8);
  last_size_ = text.size();
  return text;
}

}  // namespace triggerd
