#include "dispatcher/logger.hpp"

#include <spdlog/spdlog.h>

namespace triggerd {

std::shared_ptr<spdlog::logger> dispatcher_logger() {
  constexpr const char* kName = "dispatcher";
  if (auto existing = spdlog::get(kName)) return existing;
  const auto& sinks = spdlog::default_logger()->sinks();
  auto logger = std::make_shared<spdlog::logger>(kName, sinks.begin(), sinks.end());
  try {
    // Registers it and applies the registry's current level and format.
    spdlog::initialize_logger(logger);
  } catch (const spdlog::spdlog_ex&) {
    // Someone registered it in between (another thread); theirs is as good.
    if (auto existing = spdlog::get(kName)) return existing;
  }
  return logger;
}

}  // namespace triggerd
