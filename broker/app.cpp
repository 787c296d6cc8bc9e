#include "broker/app.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <csignal>
#include <utility>

#include <boost/asio/steady_timer.hpp>

#include "broker/admin_server.hpp"
#include "broker/config_diff.hpp"
#include "broker/demand_sampler.hpp"
#include "broker/health.hpp"
#include "broker/keda_scaler.hpp"
#include "broker/monitored_triggers.hpp"
#include "core/logging.hpp"
#include "core/metrics.hpp"
#include "core/task_group.hpp"
#include "broker/teardown_watchdog.hpp"
#include "broker/trigger_runtime.hpp"
#include "config/loader.hpp"
#include "connectors/http/webhook_server.hpp"
#include "connectors/registry.hpp"
#include "dispatcher/dispatcher.hpp"

namespace triggerd {

namespace asio = boost::asio;

namespace {

// After the deadline, how long the watchdog lets the teardown finish by itself before it ends
// the process (the loop may be just about done).
constexpr auto kWatchdogGrace = std::chrono::seconds(1);
// After a second stop signal, how long the teardown may take before the watchdog ends it.
constexpr auto kSecondSignalGrace = std::chrono::milliseconds(500);
// A source whose close() reached its deadline gets this long for run() to come back.
constexpr auto kCloseSlack = std::chrono::milliseconds(200);

// What becomes of an event that a drain abandons, for the log line an operator reads.
const char* abandoned_fate(const config::SourceSpec& source) {
  if (std::holds_alternative<config::HttpSource>(source)) {
    return "lost: their senders were already answered 202";
  }
  if (std::holds_alternative<config::CronSource>(source)) return "lost: ticks are not fired again";
  return "left unacknowledged at the source, which delivers them again";
}

}  // namespace

class App::Impl {
 public:
  explicit Impl(config::Config config)
      : config_(std::move(config)),
        metrics_(monitored_triggers(config_), TRIGGERD_VERSION),
        health_(metrics_),
        admin_(io_, metrics_, health_),
        signals_(io_, SIGTERM, SIGINT, SIGHUP),
        log_(logging::get("triggerd")),
        dispatcher_(io_.get_executor(), config_, make_dead_letter_sinks(io_.get_executor(), config_)) {
    if (config_.server.scaler_listen) scaler_ = std::make_unique<KedaScaler>(metrics_);
    // metrics_.triggers() is in config order, like config_.triggers.
    const auto& telemetry = *telemetry_;
    for (std::size_t i = 0; i < config_.triggers.size(); ++i) {
      runtimes_.push_back(std::make_unique<TriggerRuntime>(
          io_.get_executor(), config_.triggers[i], *telemetry[i], dispatcher_));
      telemetry[i]->state.on_activity_change(
          [this, i](bool active) { on_trigger_activity(i, active); });
    }
  }

  int run() {
    // Start order: the admin server first, so /livez answers and /metrics shows every series
    // at zero while the rest starts, and the KEDA scaler; the dispatcher and trigger runtimes
    // already stand (built in the constructor); then the sources, and the webhook ingress
    // last. Readiness comes once every source reports up.
    admin_.start(config_.server.admin_listen);
    if (scaler_) scaler_->start(*config_.server.scaler_listen);
    std::vector<WebhookRoute> routes;
    for (std::size_t i = 0; i < config_.triggers.size(); ++i) {
      const config::Trigger& trigger = config_.triggers[i];
      TriggerRuntime& runtime = *runtimes_[i];
      if (const auto* http = std::get_if<config::HttpSource>(&trigger.source)) {
        routes.push_back(WebhookRoute{trigger.name, *http, &runtime});
        continue;
      }
      auto source = make_source(io_.get_executor(), config_, trigger, *(*telemetry_)[i]);
      source_tasks_.spawn("trigger " + trigger.name + ": source", source->run(runtime));
      sources_.push_back({std::move(source), i});
    }
    if (!routes.empty()) {
      // A connection that ends with an exception (none should) is counted as "webhook".
      webhook_ = std::make_unique<WebhookServer>(
          io_, config_.server, std::move(routes), WebhookLimits{},
          [this](std::string_view) { metrics_.internal_errors().count("webhook"); });
      webhook_->on_refused([this](std::string_view trigger, int status) {
        metrics_.count_webhook_rejected(trigger, status);
      });
      webhook_->start();
      for (std::size_t i = 0; i < config_.triggers.size(); ++i) {
        if (std::holds_alternative<config::HttpSource>(config_.triggers[i].source)) {
          (*telemetry_)[i]->state.set_source_up(true);
        }
      }
    }
    app_tasks_.spawn("queue depth refresh", refresh_queue_depths());
    app_tasks_.spawn("demand sampling", demand_sampler_.run());
    health_.set_started();
    app_tasks_.spawn("signal handling", handle_signals());
    log_->info("triggerd {} started: {} trigger(s), admin API on {}", TRIGGERD_VERSION,
               config_.triggers.size(),
               config::HostPort{config_.server.admin_listen.host, admin_.port()}.to_string());
    io_.run();
    log_->info("triggerd stopped");
    return 0;
  }

  void request_stop() {
    asio::post(io_, [this] { begin_stop(); });
  }
  void request_reload() {
    asio::post(io_, [this] { reload(); });
  }
  std::uint16_t admin_port() const { return admin_.port(); }

 private:
  // A trigger became active (its backlog went above scaling.activation) or idle
  // (docs/autoscaling.md). Called on whichever thread changed the trigger's numbers (a source's
  // client thread, the event loop), so it must be thread-safe and must not block. TriggerState
  // has one listener, this one: every part that acts on a trigger's activity hooks in here.
  // The KEDA scaler's streams hear it at once, from this thread; the dispatcher on the loop.
  void on_trigger_activity(std::size_t trigger, bool active) {
    if (scaler_) scaler_->on_trigger_activity(*(*telemetry_)[trigger], active);
    asio::post(io_, [this, trigger, active] { apply_trigger_activity(trigger, active); });
  }

  // On the loop. A function whose triggers were all idle and one of which became active may
  // be at zero replicas: the dispatcher then waits for it to wake instead of using up retries.
  void apply_trigger_activity(std::size_t trigger, bool active) {
    const std::string& function = config_.triggers[trigger].function;
    auto function_active = [&] {
      for (std::size_t i = 0; i < config_.triggers.size(); ++i) {
        if (trigger_active_[i] && config_.triggers[i].function == function) return true;
      }
      return false;
    };
    const bool was_active = function_active();
    trigger_active_[trigger] = active;
    if (!was_active && function_active()) dispatcher_.function_activated(function);
  }

  asio::awaitable<void> handle_signals() {
    // The check comes before each wait: co_spawn may run stop_gracefully() inline, so the
    // stop can be complete by the time this loop comes round again.
    while (!stopped_) {
      auto [error, signal] = co_await signals_.async_wait(asio::as_tuple(asio::use_awaitable));
      if (error) co_return;  // cancelled: the process is stopping
      if (signal == SIGHUP) {
        reload();
      } else if (!health_.draining()) {
        log_->info("{}: stopping", signal == SIGINT ? "SIGINT" : "SIGTERM");
        begin_stop();
      } else if (!stop_now_) {
        // The usual escape hatch: a second SIGTERM/SIGINT does not wait for the drain. It cuts
        // the drain short instead of stopping the loop: after io_context::stop() the deliveries
        // stay suspended mid-flight, and the io_context destroys them after the dispatcher and
        // the runtimes they point into (a use after free on the way out). Abandoning them
        // takes a turn or two of the loop; the sources then close at once, flushing nothing
        // more, and the watchdog ends the process if that still takes longer than a moment.
        log_->warn("second stop signal during the drain: abandoning what is in flight now");
        stop_now_ = true;
        drain_wake_.cancel();
        teardown_watchdog_.arm(std::chrono::steady_clock::now() + kSecondSignalGrace);
      }
    }
  }

  void begin_stop() {
    if (health_.draining()) return;
    health_.begin_drain();  // /readyz answers 503 from this moment
    const auto deadline = std::chrono::steady_clock::now() + config_.server.shutdown_timeout;
    // The backstop of the one deadline: whatever hangs (a client library stuck in a call, a
    // blocked loop), the process is gone shortly after it.
    teardown_watchdog_.arm(deadline + kWatchdogGrace);
    app_tasks_.spawn("graceful stop", stop_gracefully(deadline));
  }

  asio::awaitable<void> stop_gracefully(std::chrono::steady_clock::time_point deadline) {
    co_await drain(deadline);
    // The admin server and the KEDA scaler stop last, so /readyz (503) and /metrics stay
    // readable all through the drain, and KEDA keeps the function up while its events finish.
    // The scaler ends its streams and waits for its calls, within the same deadline.
    admin_.stop();
    if (scaler_) scaler_->stop(deadline);
    // clear() gives SIGTERM its default action back for the last moments of the process.
    stopped_ = true;
    boost::system::error_code ignored;
    signals_.clear(ignored);
    signals_.cancel(ignored);
    // Nothing else holds work on the io_context now, so run() returns.
  }

  // docs/delivery.md: stop taking events, give the in-flight ones until `deadline` (or a second
  // stop signal) to finish (each acknowledges at its source as it finishes), then abandon the
  // rest: they stay unacknowledged at the source and will be delivered again.
  asio::awaitable<void> drain(std::chrono::steady_clock::time_point deadline) {
    if (webhook_) webhook_->stop_accepting();
    for (auto& running : sources_) running.source->stop_taking();
    for (auto& runtime : runtimes_) {
      runtime->stop_taking();
      // Wakes the wait below each time a trigger becomes idle.
      app_tasks_.spawn("drain wait", wake_drain_when_idle(*runtime));
    }
    std::size_t left = co_await wait_for_idle(deadline, /*until_stop_now=*/true);
    if (left > 0) {
      const char* why = stop_now_ ? "second stop signal" : "shutdown_timeout reached";
      // Per trigger, because what abandoning means depends on the source: only a queue
      // source can deliver the event again; a webhook sender already had its 202.
      for (const auto& runtime : runtimes_) {
        if (runtime->inflight() == 0) continue;
        log_->warn("drain: {}; trigger {}: abandoning {} event(s) in flight: {}", why,
                   runtime->trigger().name, runtime->inflight(),
                   abandoned_fate(runtime->trigger().source));
      }
      for (auto& runtime : runtimes_) runtime->abandon_all();
      // Abandoning completes within a turn or two of the loop; bound it all the same.
      left = co_await wait_for_idle(std::chrono::steady_clock::now() + std::chrono::seconds(5),
                                    /*until_stop_now=*/false);
      if (left > 0) log_->error("drain: {} delivery(ies) did not stop when abandoned", left);
    } else {
      log_->info("drain: every in-flight event finished");
    }
    // What finished is acknowledged by now or still on its way: the sources flush it, leave
    // their groups and close, within what is left of the deadline (none after a second signal).
    const auto close_by = stop_now_ ? std::chrono::steady_clock::now() : deadline;
    for (auto& running : sources_) running.source->close(close_by);
    if (webhook_) webhook_->stop();
    dispatcher_.stop();
    depth_timer_.cancel();
    demand_sampler_.stop();
    const std::size_t open =
        co_await source_tasks_.wait_until(std::max(close_by, std::chrono::steady_clock::now()) +
                                          kCloseSlack);
    if (open > 0) {
      log_->error("drain: {} source(s) did not close by the deadline; exiting without them", open);
      metrics_.internal_errors().count("shutdown");
      teardown_watchdog_.arm(std::chrono::steady_clock::now());
    }
  }

  asio::awaitable<void> wake_drain_when_idle(TriggerRuntime& runtime) {
    co_await runtime.wait_until_idle();
    drain_wake_.cancel();
  }

  TaskGroup::FailureCounter count_internal_error() {
    return [this](std::string_view component) { metrics_.internal_errors().count(component); };
  }

  std::size_t inflight() const {
    std::size_t total = 0;
    for (const auto& runtime : runtimes_) total += runtime->inflight();
    return total;
  }

  // Woken by each trigger that becomes idle (wake_drain_when_idle) and by a second stop
  // signal; `until_stop_now`: the second signal ends the wait too.
  asio::awaitable<std::size_t> wait_for_idle(std::chrono::steady_clock::time_point deadline,
                                             bool until_stop_now) {
    while (inflight() > 0 && std::chrono::steady_clock::now() < deadline &&
           !(until_stop_now && stop_now_)) {
      drain_wake_.expires_at(deadline);
      co_await drain_wake_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    co_return inflight();
  }

  // docs/metrics.md: queue depth is refreshed at least every 5 s. Sources that learn their
  // depth by themselves (Kafka lag) may also set it in between.
  asio::awaitable<void> refresh_queue_depths() {
    while (!health_.draining()) {
      for (const RunningSource& running : sources_) {
        if (auto depth = running.source->queue_depth()) {
          (*telemetry_)[running.trigger]->state.set_queue_depth(*depth);
        }
      }
      depth_timer_.expires_after(std::chrono::seconds(2));
      auto [error] = co_await depth_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
      if (error) co_return;
    }
  }

  void reload() {
    if (health_.draining()) return;  // a reload during a drain would only race the stop
    log_->info("SIGHUP: reloading {}", config_.file);
    config::LoadResult loaded = config::load_file(config_.file, &connector_check());
    auto config_log = logging::get("config");
    for (const config::Diagnostic& diagnostic : loaded.diagnostics) {
      if (diagnostic.severity == config::Severity::error) {
        config_log->error("{}", diagnostic.to_string());
      } else {
        config_log->warn("{}", diagnostic.to_string());
      }
    }
    if (!loaded.ok()) {
      metrics_.count_reload(false);
      log_->error("config reload refused: {} has errors; the running config stays", config_.file);
      return;
    }
    metrics_.count_reload(true);
    const ConfigChanges changes = diff_config(config_, *loaded.config);
    config_.log = loaded.config->log;
    logging::configure(config_.log);
    // Only the log settings apply on reload for now. Applying trigger, connection and
    // function changes comes with the sources (stop the removed or changed ones, start the
    // new ones, re-declare their series); until then the running ones stay as they are and
    // config_ keeps describing what actually runs.
    const std::string unapplied = changes.describe_unapplied();
    const char* log_note = changes.log ? "; log settings applied" : "";
    if (unapplied.empty()) {
      log_->info("config reloaded{}", changes.log ? log_note : ": no change");
    } else {
      log_->warn("config reloaded{}; these changes need a restart until sources can reload: {}",
                 log_note, unapplied);
    }
  }

  config::Config config_;
  // Armed when a stop begins; destroyed (and so disarmed) after every other member, so that
  // destroying the sources (which joins client threads) is bounded by the deadline too.
  TeardownWatchdog teardown_watchdog_;
  // Declared before everything that holds I/O objects or handlers on it, so it is destroyed
  // after them.
  asio::io_context io_{1};
  Metrics metrics_;
  // The triggers' telemetry as at start-up, in config order.
  const std::shared_ptr<const TriggerList> telemetry_ = metrics_.triggers();
  Health health_;
  AdminServer admin_;
  // Set in the constructor when server.scaler_listen is, and never changed: trigger listeners
  // read it from any thread. Destroyed after the sources and runtimes that report activity.
  std::unique_ptr<KedaScaler> scaler_;
  asio::signal_set signals_;
  std::shared_ptr<spdlog::logger> log_;
  Dispatcher dispatcher_;
  std::vector<std::unique_ptr<TriggerRuntime>> runtimes_;  // config order
  // Each trigger's activity as last posted to the loop (apply_trigger_activity), config order.
  std::vector<bool> trigger_active_ = std::vector<bool>(config_.triggers.size(), false);
  DemandSampler demand_sampler_{io_.get_executor(), metrics_};
  struct RunningSource {
    std::unique_ptr<Source> source;
    std::size_t trigger;  // index in config_.triggers, runtimes_ and metrics_.triggers()
  };
  std::vector<RunningSource> sources_;
  std::unique_ptr<WebhookServer> webhook_;
  asio::steady_timer depth_timer_{io_};
  asio::steady_timer drain_wake_{io_};
  // Background work of the app and of the sources: a failure is logged and counted in
  // triggerd_internal_errors_total, and the drain waits for the sources' run() to end.
  TaskGroup app_tasks_{io_.get_executor(), "app", count_internal_error()};
  TaskGroup source_tasks_{io_.get_executor(), "source", count_internal_error()};
  bool stopped_ = false;  // the graceful stop has finished; no more signal handling
  bool stop_now_ = false;  // a second stop signal came: abandon what is in flight at once
};

App::App(config::Config config) : impl_(std::make_unique<Impl>(std::move(config))) {}
App::~App() = default;
int App::run() { return impl_->run(); }
void App::request_stop() { impl_->request_stop(); }
void App::request_reload() { impl_->request_reload(); }
std::uint16_t App::admin_port() const { return impl_->admin_port(); }

}  // namespace triggerd
