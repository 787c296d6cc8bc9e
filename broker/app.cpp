#include "broker/app.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <csignal>
#include <utility>

#include "broker/admin_server.hpp"
#include "broker/config_diff.hpp"
#include "broker/health.hpp"
#include "broker/logging.hpp"
#include "broker/metrics.hpp"
#include "config/loader.hpp"

namespace triggerd {

namespace asio = boost::asio;

class App::Impl {
 public:
  explicit Impl(config::Config config)
      : config_(std::move(config)),
        metrics_(config_, TRIGGERD_VERSION),
        health_(metrics_),
        admin_(io_, metrics_, health_),
        signals_(io_, SIGTERM, SIGINT, SIGHUP),
        log_(logging::get("triggerd")) {}

  int run() {
    // Start order: the admin server first, so /livez answers and /metrics shows every series
    // at zero while the rest starts; then (later) the dispatcher, then the sources, last the
    // webhook ingress; readiness only once all of that stands.
    admin_.start(config_.server.admin_listen);
    // Sources do not exist yet. Each will call TriggerState::set_source_up() as it connects
    // and disconnects; until then nothing can be down, so every trigger counts as up.
    for (const auto& trigger : metrics_.triggers()) trigger->state.set_source_up(true);
    health_.set_started();
    asio::co_spawn(io_, handle_signals(), asio::detached);
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
      } else {
        // The usual escape hatch: a second SIGTERM/SIGINT does not wait for the drain.
        log_->warn("second stop signal during the drain: exiting without waiting");
        io_.stop();
        co_return;
      }
    }
  }

  void begin_stop() {
    if (health_.draining()) return;
    health_.begin_drain();  // /readyz answers 503 from this moment
    asio::co_spawn(io_, stop_gracefully(), asio::detached);
  }

  asio::awaitable<void> stop_gracefully() {
    const auto deadline = std::chrono::steady_clock::now() + config_.server.shutdown_timeout;
    co_await drain(deadline);
    // The admin server stops last, so /readyz (503) and /metrics stay readable all through
    // the drain.
    admin_.stop();
    // clear() gives SIGTERM its default action back for the last moments of the process.
    stopped_ = true;
    boost::system::error_code ignored;
    signals_.clear(ignored);
    signals_.cancel(ignored);
    // Nothing else holds work on the io_context now, so run() returns.
  }

  // The drain seam (SPEC section 6). When sources and the dispatcher exist, this: closes the
  // webhook ingress, tells every source to stop taking events, waits until the in-flight
  // events have finished or `deadline` has passed, has the sources acknowledge what finished,
  // and leaves the rest unacknowledged for redelivery. Today nothing is in flight.
  asio::awaitable<void> drain(std::chrono::steady_clock::time_point deadline) {
    (void)deadline;
    co_return;
  }

  void reload() {
    if (health_.draining()) return;  // a reload during a drain would only race the stop
    log_->info("SIGHUP: reloading {}", config_.file);
    config::LoadResult loaded = config::load_file(config_.file);
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
  // Declared before everything that holds I/O objects or handlers on it, so it is destroyed
  // after them.
  asio::io_context io_{1};
  Metrics metrics_;
  Health health_;
  AdminServer admin_;
  asio::signal_set signals_;
  std::shared_ptr<spdlog::logger> log_;
  bool stopped_ = false;  // the graceful stop has finished; no more signal handling
};

App::App(config::Config config) : impl_(std::make_unique<Impl>(std::move(config))) {}
App::~App() = default;
int App::run() { return impl_->run(); }
void App::request_stop() { impl_->request_stop(); }
void App::request_reload() { impl_->request_reload(); }
std::uint16_t App::admin_port() const { return impl_->admin_port(); }

}  // namespace triggerd
