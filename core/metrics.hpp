#pragma once
// Every metric of docs/metrics.md, declared in one place on one prometheus::Registry, and the
// per-trigger handles that the sources and the dispatcher use on the hot path.
//
// All series of every configured trigger exist from start-up (or from the reload that adds
// the trigger) with zero values, so a scrape (and promtool, and a dashboard) sees every name
// before the first event. A reload that removes a trigger removes its series once it drained.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/desired_replicas.hpp"

namespace prometheus {
template <typename T>
class Family;
struct MetricFamily;
class Counter;
class Gauge;
class Histogram;
class Registry;
}  // namespace prometheus

namespace triggerd {

// The `result` label of triggerd_delivery_attempts_total.
enum class AttemptResult { k2xx, k4xx, k5xx, kTimeout, kConnectError };
// The `reason` label of triggerd_events_dropped_total: given up with no dead letter
// (rejected, retries exhausted), or because the dead letter refused it for good or kept failing
// past its retry budget (dead_letter_failed).
enum class DropReason { kRetriesExhausted, kRejected, kDeadLetterFailed };
// The `reason` label of triggerd_dead_letter_failures_total: one failed dead-letter write.
// temporary: retried within the budget; permanent: the target refused it for good.
enum class DeadLetterFailure { kTemporary, kPermanent };
// The `kind` label of triggerd_source_errors_total: a failed source-side operation.
//   connect: (re)connecting to the queue failed; command: a read or other command failed;
//   ack: acknowledging finished events failed (XACK, LREM); commit: a Kafka offset commit
//   failed.
enum class SourceError { kConnect, kCommand, kAck, kCommit };

const char* attempt_result_label(AttemptResult result);
const char* drop_reason_label(DropReason reason);
const char* dead_letter_failure_label(DeadLetterFailure failure);
const char* source_error_label(SourceError error);

// triggerd_internal_errors_total{component}: background work that failed (an exception out of
// a coroutine that should never throw, a loop that ended when it should not have). Components
// are a handful of fixed names, so the series are made on first use. Thread-safe.
class InternalErrors {
 public:
  explicit InternalErrors(prometheus::Registry& registry);
  void count(std::string_view component);

 private:
  prometheus::Family<prometheus::Counter>& family_;
};

// What the metrics need to know of one configured trigger; the broker describes each trigger of
// the config this way (broker/monitored_triggers.hpp).
struct MonitoredTrigger {
  std::string name;
  std::string function;
  std::string source_type;  // "kafka", "redis-stream", "redis-list", "http", "cron"
  Scaling scaling;
  bool cron = false;  // has triggerd_cron_ticks_skipped_total
  bool http = false;  // has triggerd_webhook_rejected_total series from the start
};

// One trigger's series, resolved once when the trigger is added, so the hot path never looks up
// labels. The references stay valid until Metrics::remove_trigger() of the trigger.
struct TriggerMetrics {
  prometheus::Counter& received;
  prometheus::Counter& delivered;
  prometheus::Counter& dead_lettered;
  prometheus::Counter& dropped_retries_exhausted;
  prometheus::Counter& dropped_rejected;
  prometheus::Counter& dropped_dead_letter_failed;
  prometheus::Counter& attempts_2xx;
  prometheus::Counter& attempts_4xx;
  prometheus::Counter& attempts_5xx;
  prometheus::Counter& attempts_timeout;
  prometheus::Counter& attempts_connect_error;
  prometheus::Histogram& delivery_duration;  // seconds, one attempt
  prometheus::Histogram& event_duration;     // seconds, taken to finished
  // Written only through TriggerState (queue depth, in flight, source up) and
  // Metrics::refresh_gauges(), so /metrics and the admin API never disagree.
  prometheus::Gauge& queue_depth;
  prometheus::Gauge& inflight;
  prometheus::Gauge& source_up;
  // Labelled with the function too, so a reload that binds the trigger to another function
  // moves it to another series (on the event loop, where it is set).
  prometheus::Gauge* desired_replicas;
  // The whole queue's unfinished work (docs/autoscaling.md) and demand mode's smoothed inputs.
  prometheus::Gauge& backlog_total;
  prometheus::Gauge& arrival_rate;
  prometheus::Gauge& mean_event_duration;
  // triggerd_activation_waits_total: events that waited for their function to wake.
  prometheus::Counter& activation_waits;
  // triggerd_events_filtered_total: events taken that did not pass the trigger's filters, and
  // were acknowledged without being sent (counted in `received` too).
  prometheus::Counter& filtered;
  // triggerd_cron_ticks_skipped_total: only cron triggers have the series (else null).
  prometheus::Counter* cron_ticks_skipped;
  // triggerd_dead_letter_failures_total{reason}: temporary, permanent (every trigger).
  prometheus::Counter& dead_letter_failures_temporary;
  prometheus::Counter& dead_letter_failures_permanent;
  // triggerd_source_errors_total{kind}: connect, command, ack, commit (every trigger; cron
  // with a lock counts its Redis failures here too).
  prometheus::Counter& source_errors_connect;
  prometheus::Counter& source_errors_command;
  prometheus::Counter& source_errors_ack;
  prometheus::Counter& source_errors_commit;
  // The process-wide triggerd_internal_errors_total, reachable from every part that is
  // handed a trigger's telemetry.
  InternalErrors& internal_errors;

  prometheus::Counter& dropped(DropReason reason) const;
  prometheus::Counter& attempts(AttemptResult result) const;
  prometheus::Counter& dead_letter_failures(DeadLetterFailure failure) const;
  prometheus::Counter& source_errors(SourceError error) const;
};

// The live numbers of one trigger that the admin API reports, readiness depends on and the
// KEDA scaler answers from.
//
// Relaxed atomics rather than plain members: the app itself is single-threaded, but the
// writers of queue depth may not be. librdkafka computes lag on its own thread and a hiredis
// connection may live on a dedicated one (ARCHITECTURE.md), and those can publish a depth
// here without a post to the io_context; the scaler's gRPC threads read them. A relaxed load or
// store costs the same as a plain one on x86; only add_inflight() is a locked add, and that is
// once per event, not per byte. Nothing orders these values against each other, which is fine
// for monitoring.
class TriggerState {
 public:
  // Called with the trigger's new activity each time it flips (docs/autoscaling.md: active
  // while the backlog is above `activation`), on whichever thread changed a number.
  using ActivityListener = std::function<void(bool active)>;

  // `activation`: the backlog above which the trigger is active.
  TriggerState(TriggerMetrics& metrics, std::int64_t activation)
      : metrics_(metrics), activation_(activation) {}
  // A reload changed scaling.activation.
  void set_activation(std::int64_t activation);
  TriggerState(const TriggerState&) = delete;
  TriggerState& operator=(const TriggerState&) = delete;

  // Set once, before any source or server runs.
  void on_activity_change(ActivityListener listener) { listener_ = std::move(listener); }

  // Events waiting at the source, not yet taken (docs/configuration.md); set by the source.
  void set_queue_depth(std::int64_t depth);
  // The trigger's whole unfinished work as the queue sees it, the same from every replica
  // (docs/autoscaling.md); set by a source that can ask its queue, every second or so. Any
  // thread.
  void set_backlog_total(std::int64_t backlog_total);
  // Events taken and not finished, including those waiting to retry: +1 when an event is
  // taken from the source, -1 when it is finished (delivered, dead-lettered or dropped).
  void add_inflight(std::int64_t delta);
  // Whether the source is connected; /readyz needs every trigger's source up.
  void set_source_up(bool up);
  // A source-side failure (triggerd_source_errors_total{kind}). Any thread.
  void count_source_error(SourceError error);
  // Background work of this trigger's source that failed (triggerd_internal_errors_total).
  void count_internal_error(std::string_view component);
  // Copies what is kept only in the atomics (in flight, backlog total) into the prometheus
  // series; called before every scrape.
  void publish_gauges() const;

  // A reload is draining this trigger's source to remove it or to start a new version: its
  // source going down then is planned, and readiness does not wait for it (the replica's other
  // triggers keep taking webhooks). Cleared when the new version's source starts.
  void set_restarting(bool restarting) {
    restarting_.store(restarting, std::memory_order_relaxed);
  }
  bool restarting() const { return restarting_.load(std::memory_order_relaxed); }

  std::int64_t queue_depth() const { return queue_depth_.load(std::memory_order_relaxed); }
  std::int64_t inflight() const { return inflight_.load(std::memory_order_relaxed); }
  bool source_up() const { return source_up_.load(std::memory_order_relaxed); }
  // Every event of the trigger that is not finished on this replica (docs/metrics.md).
  std::int64_t backlog() const { return queue_depth() + inflight(); }
  // The queue's figure when the source reports one, never below this replica's own backlog
  // (which moves at once when an event is taken, before the next refresh of the queue's
  // figure). A source that cannot see other replicas' work (http, cron) reports none: then it
  // is this replica's backlog.
  std::int64_t backlog_total() const;
  bool active() const { return active_.load(std::memory_order_relaxed); }

 private:
  // Re-reads the numbers and tells the listener if activity flipped.
  void update_activity();

  TriggerMetrics& metrics_;
  std::atomic<std::int64_t> activation_;
  ActivityListener listener_;
  std::atomic<std::int64_t> queue_depth_{0};
  std::atomic<std::int64_t> inflight_{0};
  std::atomic<std::int64_t> reported_total_{-1};  // -1: the source reports none
  std::atomic<bool> source_up_{false};
  std::atomic<bool> restarting_{false};
  std::atomic<bool> active_{false};
};

// What the broker knows about one configured trigger: its identity as the admin API shows
// it, its series, and its live state. One object per trigger name for as long as the trigger is
// configured: a reload that changes the trigger rebinds it (its counters and in-flight count go
// on), one that removes it drops it from Metrics, and holders of a shared_ptr may still read
// its numbers (not its series) afterwards.
struct TriggerTelemetry {
  TriggerTelemetry(const MonitoredTrigger& trigger, TriggerMetrics trigger_metrics);

  const std::string name;
  TriggerMetrics metrics;
  TriggerState state;

  // What the trigger is bound to, which a reload may change. Any thread; copies.
  std::string function() const;
  std::string source_type() const;  // "kafka", "redis-stream", ...
  Scaling scaling() const;

  // Demand mode's smoothed inputs, set every second by the broker's sampler. Any thread.
  void set_demand(const Demand& demand);
  Demand demand() const;

  // The mode's formula over backlog_total (docs/autoscaling.md).
  std::int64_t desired_replicas() const;
  bool active() const { return state.active(); }
  std::int64_t delivered() const;
  std::int64_t dead_lettered() const;
  std::int64_t dropped() const;  // all reasons

 private:
  friend class Metrics;

  std::atomic<double> arrival_rate_{0};
  std::atomic<double> mean_event_duration_{0};
  mutable std::mutex binding_mutex_;
  MonitoredTrigger binding_;  // under binding_mutex_
};

// Prometheus text format 0.0.4 of `families`, the same text as prometheus-cpp's TextSerializer
// writes, several times faster. `size_hint`: bytes to reserve.
std::string text_format(const std::vector<prometheus::MetricFamily>& families,
                        std::size_t size_hint = 0);

// The triggers Metrics knows, in config order; a snapshot, so a reader on another thread (the
// KEDA scaler's) is never disturbed by a reload.
using TriggerList = std::vector<std::shared_ptr<TriggerTelemetry>>;

class Metrics {
 public:
  // Declares every family and, for each of `triggers` (in config order), every series at zero.
  Metrics(const std::vector<MonitoredTrigger>& triggers, std::string_view version);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  prometheus::Registry& registry() { return *registry_; }

  // In config order. Any thread.
  std::shared_ptr<const TriggerList> triggers() const;
  std::shared_ptr<TriggerTelemetry> find(std::string_view trigger) const;
  // Every trigger's source is up, or being restarted by a reload (TriggerState::restarting).
  bool all_sources_up() const;

  // A reload (on the event loop). add_trigger declares the series of a trigger that is not
  // there (at zero) and puts it last; update_trigger rebinds one that is there to a changed
  // function, source type or scaling, keeping its counters; order_triggers puts the list in
  // the new config's order. remove_trigger takes a trigger out of the list and its series out
  // of /metrics: call it once nothing counts on the trigger any more (drained, source closed).
  std::shared_ptr<TriggerTelemetry> add_trigger(const MonitoredTrigger& trigger);
  void update_trigger(const MonitoredTrigger& trigger);
  void order_triggers(const std::vector<std::string>& names);
  void remove_trigger(std::string_view name);

  // triggerd_config_reloads_total{result="success"|"failure"}.
  void count_reload(bool success);

  // triggerd_internal_errors_total{component}.
  InternalErrors& internal_errors() { return *internal_errors_; }

  // triggerd_scaler_streams: StreamIsActive streams of the KEDA scaler open now. Thread-safe.
  prometheus::Gauge& scaler_streams() { return *scaler_streams_; }
  // triggerd_config_watched: 1 while the config file is watched for changes.
  prometheus::Gauge& config_watched() { return *config_watched_; }

  // triggerd_webhook_rejected_total{trigger,status}: a webhook request refused. `trigger` is
  // empty for a path no trigger owns (404). Declared at zero for every http trigger and the
  // statuses 400 401 405 413 431 503 (and 404 without a trigger). Thread-safe, not for a hot
  // path: it looks the series up.
  void count_webhook_rejected(std::string_view trigger, int status);

  // Sets every trigger's triggerd_inflight_events and triggerd_desired_replicas from its
  // current state. Called just before a scrape, so the gauges are as fresh as the numbers they
  // come from.
  void refresh_gauges();
  // Prometheus text format 0.0.4 of the whole registry, after refresh_gauges().
  std::string serialize();

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::size_t last_size_ = 0;  // of the last serialize(): the next one reserves about as much
  prometheus::Counter* reloads_success_ = nullptr;
  prometheus::Counter* reloads_failure_ = nullptr;
  prometheus::Gauge* scaler_streams_ = nullptr;
  prometheus::Gauge* config_watched_ = nullptr;
  std::unique_ptr<InternalErrors> internal_errors_;
  prometheus::Family<prometheus::Counter>* webhook_rejected_ = nullptr;
  // A trigger's telemetry with every series declared at zero; not in the list yet.
  std::shared_ptr<TriggerTelemetry> make_telemetry(const MonitoredTrigger& trigger);

  struct Families;
  std::unique_ptr<Families> families_;
  // Replaced, never changed in place, on the event loop; read from any thread.
  mutable std::mutex triggers_mutex_;
  std::shared_ptr<const TriggerList> triggers_;
};

}  // namespace triggerd
