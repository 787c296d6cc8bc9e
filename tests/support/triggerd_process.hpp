#pragma once
// The real triggerd binary, run by an integration test.
#include <chrono>
#include <cstdint>
#include <string>

#include "tests/support/process.hpp"

namespace triggerd::testing {

// The path of the triggerd binary under test (the TRIGGERD_BINARY compile definition).
std::string triggerd_binary();

// `triggerd run -c CONFIG`, started and waited for until its admin server listens. The port
// is read from the start-up log line ("admin API on HOST:PORT"), so the config may use
// admin_listen 127.0.0.1:0 and no test ever races another process for a port.
class TriggerdProcess {
 public:
  // Throws std::runtime_error, with what triggerd printed, if it exits or does not listen
  // within `timeout`.
  explicit TriggerdProcess(const std::string& config_path, const ProcessOptions& options = {},
                           std::chrono::milliseconds timeout = std::chrono::seconds(15));

  std::uint16_t admin_port() const { return admin_port_; }
  // The webhook ingress port, read the same way ("webhook ingress listening on HOST:PORT");
  // 0 when the config has no http trigger.
  std::uint16_t webhook_port() const { return webhook_port_; }
  // The KEDA scaler's port, read the same way ("KEDA scaler listening on HOST:PORT"); 0 when
  // the config has no server.scaler_listen.
  std::uint16_t scaler_port() const { return scaler_port_; }
  ChildProcess& process() { return process_; }

 private:
  ChildProcess process_;
  std::uint16_t admin_port_ = 0;
  std::uint16_t webhook_port_ = 0;
  std::uint16_t scaler_port_ = 0;
};

}  // namespace triggerd::testing
