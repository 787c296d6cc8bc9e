#pragma once
// The "dispatcher" spdlog logger. broker/logging.hpp makes every part's logger with the shared
// sink, level and format; this takes that one when it exists and otherwise makes one on the
// default logger's sinks, so the dispatcher also logs sensibly in tests and tools that never
// configured logging.
#include <memory>

namespace spdlog {
class logger;
}  // namespace spdlog

namespace triggerd {

std::shared_ptr<spdlog::logger> dispatcher_logger();

}  // namespace triggerd
