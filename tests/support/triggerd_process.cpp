#include "tests/support/triggerd_process.hpp"

#include <cctype>
#include <stdexcept>

namespace triggerd::testing {

namespace {

// The port of the first "MARKER HOST:PORT" in the log ("admin API on ", "webhook
// ingress listening on "), in the text and the JSON format alike; 0 if there is none yet.
std::uint16_t listening_port(const std::string& log, std::string_view marker) {
  const auto at = log.find(marker);
  if (at == std::string::npos) return 0;
  auto end = at + marker.size();
  while (end < log.size() && log[end] != ' ' && log[end] != '"' && log[end] != '\n') ++end;
  const auto colon = log.rfind(':', end);
  if (colon == std::string::npos || colon < at || colon + 1 == end) return 0;
  int port = 0;
  for (auto i = colon + 1; i < end; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(log[i]))) return 0;
    port = port * 10 + (log[i] - '0');
    if (port > 65535) return 0;
  }
  return port > 0 && port < 65536 ? static_cast<std::uint16_t>(port) : 0;
}

}  // namespace

std::string triggerd_binary() { return TRIGGERD_BINARY; }

TriggerdProcess::TriggerdProcess(const std::string& config_path, const ProcessOptions& options,
                                 std::chrono::milliseconds timeout)
    : process_(triggerd_binary(), {"run", "-c", config_path}, options) {
  const bool listening = wait_until(
      [&] {
        admin_port_ = listening_port(process_.err(), "admin API on ");
        return admin_port_ != 0 || !process_.running();
      },
      timeout);
  if (!listening || admin_port_ == 0) {
    throw std::runtime_error("triggerd did not start (" +
                             std::string(process_.running() ? "still running" : "exited") +
                             "); stderr:\n" + process_.err());
  }
  // The webhook ingress and the scaler start before the line with the admin port is written.
  webhook_port_ = listening_port(process_.err(), "webhook ingress listening on ");
  scaler_port_ = listening_port(process_.err(), "KEDA scaler listening on ");
}

}  // namespace triggerd::testing
