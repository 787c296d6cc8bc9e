#include "tests/support/triggerd_process.hpp"

#include <regex>
#include <stdexcept>

namespace triggerd::testing {

std::string triggerd_binary() { return TRIGGERD_BINARY; }

TriggerdProcess::TriggerdProcess(const std::string& config_path, const ProcessOptions& options,
                                 std::chrono::milliseconds timeout)
    : process_(triggerd_binary(), {"run", "-c", config_path}, options) {
  // Matches the text and the JSON log format alike.
  static const std::regex kListening(R"(admin API on [^ "]*:(\d+))");
  std::smatch match;
  const bool listening = wait_until(
      [&] {
        const std::string err = process_.err();
        if (std::regex_search(err, match, kListening)) {
          admin_port_ = static_cast<std::uint16_t>(std::stoi(match[1].str()));
          return true;
        }
        return !process_.running();
      },
      timeout);
  if (!listening || admin_port_ == 0) {
    throw std::runtime_error("triggerd did not start (" +
                             std::string(process_.running() ? "still running" : "exited") +
                             "); stderr:\n" + process_.err());
  }
}

}  // namespace triggerd::testing
