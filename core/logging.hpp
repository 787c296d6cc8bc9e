#pragma once
// Logging for every part of triggerd: spdlog, one named logger per part ("triggerd", "admin",
// "config", "dispatcher", "kafka", ...), all writing to stderr through one sink, in the level
// and format of the `log:` section (text, or JSON with one object per line).
#include <spdlog/logger.h>

#include <memory>
#include <string>
#include <string_view>

#include "core/log_options.hpp"

namespace triggerd::logging {

// Applies level and format to every logger, those that exist and those made later. Called at
// start-up and on each successful reload; before the first call the defaults are info/text.
void configure(const Options& options);

// The logger of one part of triggerd, made on first use. Keep the pointer rather than calling
// this on a hot path: it takes a lock.
std::shared_ptr<spdlog::logger> get(std::string_view name);

// Appends `text` as a JSON string literal (quotes included). Bytes that are not valid UTF-8
// become U+FFFD so that a log line is always valid JSON, whatever a payload carried.
void append_json_string(std::string_view text, std::string& out);

}  // namespace triggerd::logging
