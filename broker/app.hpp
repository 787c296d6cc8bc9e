#pragma once
// The triggerd process: owns the event loop, the metrics, the admin server and (later) the
// sources and the dispatcher; starts them in order, and handles the signals (README.md):
// SIGTERM/SIGINT drain and stop, SIGHUP reloads the config file.
#include <cstdint>
#include <memory>

#include "config/config.hpp"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace triggerd {

class AdminServer;
class Health;
class Metrics;

class App {
 public:
  // `config` must be valid (the loader found no error). Nothing listens until run().
  explicit App(config::Config config);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Starts the servers, then runs the event loop on this thread until a graceful stop has
  // finished; returns the exit code. Throws std::runtime_error naming the address when a
  // server cannot listen: start-up failures are exceptions, nothing after them is.
  int run();

  // The same as SIGTERM and SIGHUP; safe to call from any thread.
  void request_stop();
  void request_reload();

  // The admin server's bound port once run() has started it (tests use admin_listen port 0).
  std::uint16_t admin_port() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace triggerd
