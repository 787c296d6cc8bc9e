#include "broker/app.hpp"

#include <prometheus/gauge.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <csignal>
#include <algorithm>
#include <utility>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "broker/admin_server.hpp"
#include "broker/config_diff.hpp"
#include "broker/config_status.hpp"
#include "broker/config_watcher.hpp"
#include "broker/demand_sampler.hpp"
#include "broker/health.hpp"
#include "broker/keda_scaler.hpp"
#include "broker/monitored_triggers.hpp"
#include "broker/running_trigger.hpp"
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
      : config_(std::make_shared<const config::Config>(std::move(config))),
        metrics_(monitored_triggers(*config_), TRIGGERD_VERSION),
        health_(metrics_),
        admin_(io_, metrics_, health_, config_status_),
        signals_(io_, SIGTERM, SIGINT, SIGHUP),
        log_(logging::get("triggerd")),
        dispatcher_(io_.get_executor(), *config_,
                    make_dead_letter_sinks(io_.get_executor(), *config_)) {
    config_status_.started(*config_, std::chrono::system_clock::now());
    if (config_->server.scaler_listen) scaler_ = std::make_unique<KedaScaler>(metrics_);
    // metrics_.triggers() is in config order, like config_->triggers.
    const auto telemetry = metrics_.triggers();
    for (std::size_t i = 0; i < config_->triggers.size(); ++i) {
      listen_to(*(*telemetry)[i]);
      triggers_.push_back(make_version(config_, config_->triggers[i], (*telemetry)[i]));
    }
  }

  int run() {
    // Start order: the admin server first, so /livez answers and /metrics shows every series
    // at zero while the rest starts, and the KEDA scaler; the dispatcher and trigger runtimes
    // already stand (built in the constructor); then the sources, and the webhook ingress
    // last. Readiness comes once every source reports up.
    admin_.set_auth(config_->server.admin_auth);
    admin_.start(config_->server.admin_listen);
    if (scaler_) scaler_->start(*config_->server.scaler_listen);
    for (const auto& version : triggers_) start_version(*version);
    update_routes();
    app_tasks_.spawn("queue depth refresh", refresh_queue_depths());
    app_tasks_.spawn("demand sampling", demand_sampler_.run());
    if (config_->server.watch_config) watch_config_file();
    health_.set_started();
    app_tasks_.spawn("signal handling", handle_signals());
    log_->info("triggerd {} started: {} trigger(s), admin API on {}", TRIGGERD_VERSION,
               config_->triggers.size(),
               config::HostPort{config_->server.admin_listen.host, admin_.port()}.to_string());
    io_.run();
    log_->info("triggerd stopped");
    return 0;
  }

  void request_stop() {
    asio::post(io_, [this] { begin_stop(); });
  }
  void request_reload() {
    asio::post(io_, [this] { reload("SIGHUP"); });
  }
  std::uint16_t admin_port() const { return admin_.port(); }

 private:
  using Version = std::shared_ptr<RunningTrigger>;

  // A version of `trigger`, from `generation`, ready to start, on `telemetry`.
  Version make_version(std::shared_ptr<const config::Config> generation,
                       const config::Trigger& trigger, std::shared_ptr<TriggerTelemetry> telemetry) {
    auto version = std::make_shared<RunningTrigger>();
    version->generation = std::move(generation);
    version->config = &trigger;
    version->telemetry = std::move(telemetry);
    version->runtime = std::make_unique<TriggerRuntime>(io_.get_executor(), trigger,
                                                        *version->telemetry, dispatcher_);
    version->tasks = std::make_unique<TaskGroup>(io_.get_executor(), "source",
                                                 count_internal_error());
    return version;
  }

  // Set once per telemetry, before its first source runs. The telemetry owns the listener, so
  // the reference is valid whenever it is called.
  void listen_to(TriggerTelemetry& telemetry) {
    telemetry.state.on_activity_change(
        [this, &telemetry](bool active) { on_trigger_activity(telemetry, active); });
  }

  // Events start coming in: the source runs (an http trigger's route is set by update_routes).
  void start_version(RunningTrigger& version) {
    version.started = true;
    version.source_generation = version.generation;
    version.telemetry->state.set_restarting(false);
    if (version.http()) {
      version.telemetry->state.set_source_up(true);
      return;
    }
    version.source = make_source(io_.get_executor(), *version.generation, *version.config,
                                 *version.telemetry);
    version.tasks->spawn("trigger " + version.name() + ": source",
                         version.source->run(*version.runtime));
  }

  // Every started http version gets its path; one still waiting for its older version to drain
  // keeps that version's route, which answers 503 (busy) until then.
  void update_routes() {
    std::vector<WebhookRoute> routes;
    for (const Version& version : triggers_) {
      if (!version->http()) continue;
      const Version* serving = &version;
      if (!version->started) {
        const auto older = std::find_if(retiring_.begin(), retiring_.end(), [&](const Version& v) {
          return v->name() == version->name() && v->http();
        });
        if (older == retiring_.end()) continue;
        serving = &*older;
      }
      routes.push_back(WebhookRoute{(*serving)->name(),
                                    std::get<config::HttpSource>((*serving)->config->source),
                                    (*serving)->runtime.get(), *serving});
    }
    if (webhook_) {
      webhook_->set_routes(std::move(routes));
      return;
    }
    if (routes.empty()) return;
    // A connection that ends with an exception (none should) is counted as "webhook".
    webhook_ = std::make_unique<WebhookServer>(
        io_, config_->server, std::move(routes), WebhookLimits{},
        [this](std::string_view) { metrics_.internal_errors().count("webhook"); });
    webhook_->on_refused([this](std::string_view trigger, int status) {
      metrics_.count_webhook_rejected(trigger, status);
    });
    webhook_->start();
  }

  // A trigger became active (its backlog went above scaling.activation) or idle
  // (docs/autoscaling.md). Called on whichever thread changed the trigger's numbers (a source's
  // client thread, the event loop), so it must be thread-safe and must not block. TriggerState
  // has one listener, this one: every part that acts on a trigger's activity hooks in here.
  // The KEDA scaler's streams hear it at once, from this thread; the dispatcher on the loop.
  void on_trigger_activity(const TriggerTelemetry& telemetry, bool active) {
    if (scaler_) scaler_->on_trigger_activity(telemetry, active);
    asio::post(io_, [this, name = telemetry.name, active] { apply_trigger_activity(name, active); });
  }

  // On the loop. A function whose triggers were all idle and one of which became active may
  // be at zero replicas: the dispatcher then waits for it to wake instead of using up retries.
  void apply_trigger_activity(const std::string& trigger, bool active) {
    const auto changed = find_version(trigger);
    if (!changed) return;  // removed by a reload meanwhile
    const std::string& function = changed->config->function;
    auto function_active = [&] {
      return std::any_of(triggers_.begin(), triggers_.end(), [&](const Version& version) {
        return version->active && version->config->function == function;
      });
    };
    const bool was_active = function_active();
    changed->active = active;
    if (!was_active && function_active()) dispatcher_.function_activated(function);
  }

  Version find_version(std::string_view name) const {
    const auto it = std::find_if(triggers_.begin(), triggers_.end(),
                                 [name](const Version& version) { return version->name() == name; });
    return it == triggers_.end() ? nullptr : *it;
  }

  // Every version with events or a source: the configured ones and those draining after a
  // reload.
  std::vector<Version> all_versions() const {
    std::vector<Version> all = triggers_;
    all.insert(all.end(), retiring_.begin(), retiring_.end());
    return all;
  }

  asio::awaitable<void> handle_signals() {
    // The check comes before each wait: co_spawn may run stop_gracefully() inline, so the
    // stop can be complete by the time this loop comes round again.
    while (!stopped_) {
      auto [error, signal] = co_await signals_.async_wait(asio::as_tuple(asio::use_awaitable));
      if (error) co_return;  // cancelled: the process is stopping
      if (signal == SIGHUP) {
        reload("SIGHUP");
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
    // No reload during a drain; and the watcher's pending read would keep io_.run() going.
    if (config_watcher_) config_watcher_->stop();
    set_watching(false);
    const auto deadline = std::chrono::steady_clock::now() + config_->server.shutdown_timeout;
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
  // rest: they stay unacknowledged at the source and will be delivered again. Versions that a
  // reload was draining are drained the same way, within the same deadline.
  asio::awaitable<void> drain(std::chrono::steady_clock::time_point deadline) {
    if (webhook_) webhook_->stop_accepting();
    const std::vector<Version> all = all_versions();
    for (const Version& version : all) {
      if (version->source) version->source->stop_taking();
      version->runtime->stop_taking();
      // Wakes the wait below each time a trigger becomes idle.
      app_tasks_.spawn("drain wait", wake_drain_when_idle(version));
    }
    std::size_t left = co_await wait_for_idle(all, deadline, /*until_stop_now=*/true);
    if (left > 0) {
      const char* why = stop_now_ ? "second stop signal" : "shutdown_timeout reached";
      // Per trigger, because what abandoning means depends on the source: only a queue
      // source can deliver the event again; a webhook sender already had its 202.
      for (const Version& version : all) {
        if (version->runtime->inflight() == 0) continue;
        log_->warn("drain: {}; trigger {}: abandoning {} event(s) in flight: {}", why,
                   version->name(), version->runtime->inflight(),
                   abandoned_fate(version->config->source));
      }
      for (const Version& version : all) version->runtime->abandon_all();
      // Abandoning completes within a turn or two of the loop; bound it all the same.
      left = co_await wait_for_idle(
          all, std::chrono::steady_clock::now() + std::chrono::seconds(5), /*until_stop_now=*/false);
      if (left > 0) log_->error("drain: {} delivery(ies) did not stop when abandoned", left);
    } else {
      log_->info("drain: every in-flight event finished");
    }
    // What finished is acknowledged by now or still on its way: the sources flush it, leave
    // their groups and close, within what is left of the deadline (none after a second signal).
    const auto close_by = stop_now_ ? std::chrono::steady_clock::now() : deadline;
    for (const Version& version : all) {
      if (version->source) version->source->close(close_by);
    }
    if (webhook_) webhook_->stop();
    dispatcher_.stop();
    depth_timer_.cancel();
    demand_sampler_.stop();
    const auto wait_by = std::max(close_by, std::chrono::steady_clock::now()) + kCloseSlack;
    std::size_t open = 0;
    for (const Version& version : all) open += co_await version->tasks->wait_until(wait_by);
    if (open > 0) {
      log_->error("drain: {} source(s) did not close by the deadline; exiting without them", open);
      metrics_.internal_errors().count("shutdown");
      teardown_watchdog_.arm(std::chrono::steady_clock::now());
    }
  }

  asio::awaitable<void> wake_drain_when_idle(Version version) {
    co_await version->runtime->wait_until_idle();
    drain_wake_.cancel();
  }

  TaskGroup::FailureCounter count_internal_error() {
    return [this](std::string_view component) { metrics_.internal_errors().count(component); };
  }

  static std::size_t inflight(const std::vector<Version>& versions) {
    std::size_t total = 0;
    for (const Version& version : versions) total += version->runtime->inflight();
    return total;
  }

  // Woken by each trigger that becomes idle (wake_drain_when_idle) and by a second stop
  // signal; `until_stop_now`: the second signal ends the wait too.
  asio::awaitable<std::size_t> wait_for_idle(const std::vector<Version>& versions,
                                             std::chrono::steady_clock::time_point deadline,
                                             bool until_stop_now) {
    while (inflight(versions) > 0 && std::chrono::steady_clock::now() < deadline &&
           !(until_stop_now && stop_now_)) {
      drain_wake_.expires_at(deadline);
      co_await drain_wake_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    co_return inflight(versions);
  }

  // docs/metrics.md: queue depth is refreshed at least every 5 s. Sources that learn their
  // depth by themselves (Kafka lag) may also set it in between.
  asio::awaitable<void> refresh_queue_depths() {
    while (!health_.draining()) {
      for (const Version& version : triggers_) {
        if (!version->source) continue;
        if (auto depth = version->source->queue_depth()) {
          version->telemetry->state.set_queue_depth(*depth);
        }
      }
      depth_timer_.expires_after(std::chrono::seconds(2));
      auto [error] = co_await depth_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
      if (error) co_return;
    }
  }

  // SIGHUP (docs/configuration.md, "Changing the config"): an invalid file is refused and the
  // running config stays; a valid one is applied as a diff. Triggers and functions the diff
  // does not touch are not disturbed at all.
  // server.watch_config: a change of the file's bytes (an edit, a rename over it, a ConfigMap
  // update) reloads it as SIGHUP does. A watch that cannot be set up is a warning (logged by
  // the watcher) and triggerd_config_watched 0; SIGHUP still works.
  void watch_config_file() {
    config_watcher_ = std::make_unique<ConfigWatcher>(
        io_, config_->file, [this] { reload("config file changed"); },
        [this](std::string_view) { set_watching(false); });
    set_watching(config_watcher_->start(config_->checksum));
  }

  void set_watching(bool watching) {
    config_status_.watch = watching;
    metrics_.config_watched().Set(watching ? 1 : 0);
  }

  void reload(std::string_view cause) {
    if (health_.draining()) return;  // a reload during a drain would only race the stop
    log_->info("{}: reloading {}", cause, config_->file);
    config::LoadResult loaded = config::load_file(config_->file, &connector_check());
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
      config_status_.reload_failed(loaded, std::chrono::system_clock::now());
      log_->error("config reload refused: {} has errors; the running config stays",
                  config_->file);
      return;
    }
    metrics_.count_reload(true);
    config_status_.reload_succeeded(*loaded.config, std::chrono::system_clock::now());
    auto next = std::make_shared<const config::Config>(std::move(*loaded.config));
    const ConfigChanges changes = diff_config(*config_, *next);
    apply(next, changes);
    if (changes.empty()) {
      log_->info("config reloaded: no change");
      return;
    }
    for (const std::string& line : changes.describe()) log_->info("config reloaded: {}", line);
    for (const std::string& key : changes.server_needs_restart) {
      log_->warn("config reloaded, but {} changed: that applies at the next restart; the "
                 "running value stays", key);
    }
  }

  // On the loop; never throws (a failure to start one trigger or the webhook ingress is logged
  // and counted, and the rest is applied).
  void apply(const std::shared_ptr<const config::Config>& next, const ConfigChanges& changes) {
    if (changes.log) logging::configure(next->log);
    if (changes.admin_auth) admin_.set_auth(next->server.admin_auth);
    // Functions first, so that a trigger that starts now delivers with the new settings.
    dispatcher_.update_functions(*next);

    auto listed = [](const std::vector<std::string>& names, const std::string& name) {
      return std::find(names.begin(), names.end(), name) != names.end();
    };
    std::vector<Version> kept;
    std::vector<Version> starting;
    for (const config::Trigger& trigger : next->triggers) {
      const Version running = find_version(trigger.name);
      if (running && !listed(changes.triggers_changed, trigger.name)) {
        if (listed(changes.triggers_rebound, trigger.name)) rebind(*running, next, trigger);
        kept.push_back(running);  // its source is not touched
        continue;
      }
      // Its telemetry: made, or rebound if the trigger was there before (its counters go on).
      const bool known = metrics_.find(trigger.name) != nullptr;
      auto telemetry = metrics_.add_trigger(monitored_trigger(trigger));
      if (!known) listen_to(*telemetry);
      Version version = make_version(next, trigger, std::move(telemetry));
      kept.push_back(version);
      starting.push_back(std::move(version));
    }
    for (const Version& version : triggers_) {
      if (listed(changes.triggers_removed, version->name()) ||
          listed(changes.triggers_changed, version->name())) {
        retire(version);
      }
    }
    triggers_ = std::move(kept);
    config_ = next;
    std::vector<std::string> order;
    for (const config::Trigger& trigger : next->triggers) order.push_back(trigger.name);
    metrics_.order_triggers(order);
    for (const Version& version : starting) start_when_alone(version->name());
    update_routes_after_reload();
  }

  void update_routes_after_reload() {
    try {
      update_routes();
    } catch (const std::exception& error) {
      // The first webhook trigger of a process that had none, and server.listen is taken.
      log_->error("reload: the webhook ingress cannot start: {}", error.what());
      metrics_.internal_errors().count("reload");
    }
  }

  // A change the running source can take (function, retries, backoff, max_inflight, scaling,
  // filters): the version takes it for the events it takes from now on, and its source goes on.
  void rebind(RunningTrigger& version, const std::shared_ptr<const config::Config>& next,
              const config::Trigger& trigger) {
    metrics_.update_trigger(monitored_trigger(trigger));
    if (version.runtime->inflight() == 0) version.earlier_generations.clear();
    version.earlier_generations.push_back(std::move(version.generation));
    version.generation = next;
    version.config = &trigger;
    version.runtime->rebind(trigger);
    if (version.source) version.source->set_max_inflight(trigger.delivery.max_inflight);
  }

  // Takes the version out of service: it stops taking events, its in-flight events get
  // server.shutdown_timeout to finish (the rest are abandoned: a queue delivers them again),
  // its source flushes its acknowledgements and closes. Then the next version of the trigger,
  // if any, starts; a removed trigger's series leave /metrics.
  void retire(const Version& version) {
    // Never started (it was waiting for an older version to drain): nothing to drain. The
    // older version's end does the rest (starts the newest version, or removes the series).
    if (!version->started) return;
    retiring_.push_back(version);
    version->telemetry->state.set_restarting(true);
    if (version->source) version->source->stop_taking();
    version->runtime->stop_taking();
    app_tasks_.spawn("trigger " + version->name() + ": drain for reload", drain_version(version));
  }

  asio::awaitable<void> drain_version(Version version) {
    const auto deadline = std::chrono::steady_clock::now() + config_->server.shutdown_timeout;
    asio::steady_timer give_up(io_, deadline);
    give_up.async_wait([this, version](boost::system::error_code error) {
      if (error || version->runtime->inflight() == 0) return;
      log_->warn("reload: trigger {}: shutdown_timeout reached; abandoning {} event(s) in "
                 "flight: {}", version->name(), version->runtime->inflight(),
                 abandoned_fate(version->config->source));
      version->runtime->abandon_all();
    });
    co_await version->runtime->wait_until_idle();
    give_up.cancel();
    if (version->source) {
      version->source->close(deadline);
      if (co_await version->tasks->wait_until(deadline + kCloseSlack) > 0) {
        log_->error("reload: trigger {}: its old source did not close by the deadline",
                    version->name());
        metrics_.internal_errors().count("reload");
      }
    }
    finish_retiring(version);
  }

  void finish_retiring(const Version& version) {
    std::erase(retiring_, version);
    if (health_.draining()) return;  // the stop closes the rest
    const std::string name = version->name();
    if (find_version(name)) {
      start_when_alone(name);
    } else if (!retiring(name)) {
      dispatcher_.set_dead_letter(name, nullptr);
      metrics_.remove_trigger(name);
    }
    update_routes_after_reload();
  }

  bool retiring(const std::string& name) const {
    return std::any_of(retiring_.begin(), retiring_.end(),
                       [&](const Version& v) { return v->name() == name; });
  }

  // Starts the configured version of `name` once no older version of it is draining: two
  // versions never hold one queue's events (or one dead letter) at the same time.
  void start_when_alone(const std::string& name) {
    const Version version = find_version(name);
    if (!version || version->started || retiring(name) || health_.draining()) return;
    const auto& dead_letter = version->config->delivery.dead_letter;
    try {
      dispatcher_.set_dead_letter(
          name, dead_letter ? make_dead_letter_sink(io_.get_executor(), *dead_letter,
                                                    *version->generation)
                            : nullptr);
      start_version(*version);
    } catch (const std::exception& error) {
      // The loader checked what a source refuses; reaching this is a bug. The trigger stays
      // down (its source_up 0, so the replica is not ready), the rest runs on.
      log_->error("trigger {}: cannot start after the reload: {}", name, error.what());
      metrics_.internal_errors().count("reload");
    }
  }

  std::shared_ptr<const config::Config> config_;
  // Armed when a stop begins; destroyed (and so disarmed) after every other member, so that
  // destroying the sources (which joins client threads) is bounded by the deadline too.
  TeardownWatchdog teardown_watchdog_;
  // Declared before everything that holds I/O objects or handlers on it, so it is destroyed
  // after them.
  asio::io_context io_{1};
  Metrics metrics_;
  Health health_;
  ConfigStatus config_status_;  // before admin_, which shows it on /v1/config
  AdminServer admin_;
  // Set in the constructor when server.scaler_listen is, and never changed: trigger listeners
  // read it from any thread. Destroyed after the sources and runtimes that report activity.
  std::unique_ptr<KedaScaler> scaler_;
  asio::signal_set signals_;
  std::shared_ptr<spdlog::logger> log_;
  Dispatcher dispatcher_;
  // The configured triggers, in config order, and the older versions a reload is draining.
  std::vector<Version> triggers_;
  std::vector<Version> retiring_;
  DemandSampler demand_sampler_{io_.get_executor(), metrics_};
  std::unique_ptr<WebhookServer> webhook_;
  std::unique_ptr<ConfigWatcher> config_watcher_;  // set in run() when server.watch_config
  asio::steady_timer depth_timer_{io_};
  asio::steady_timer drain_wake_{io_};
  // Background work of the app: a failure is logged and counted in
  // triggerd_internal_errors_total. Each trigger version has its own group for its source.
  TaskGroup app_tasks_{io_.get_executor(), "app", count_internal_error()};
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
