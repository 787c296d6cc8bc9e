#pragma once
// Reads a triggerd YAML file into a Config: expands ${VAR}, ${VAR:-default} and *_file
// values, checks every field, and reports all mistakes at once with file, line and column.
#include <optional>
#include <string>

#include "config/config.hpp"
#include "config/diagnostic.hpp"
#include "config/connector_check.hpp"

namespace triggerd::config {

struct LoadResult {
  std::optional<Config> config;  // set only when there is no error (warnings allowed)
  Diagnostics diagnostics;       // errors and warnings, in file order

  bool ok() const { return config.has_value(); }
};

// `file` is the name used in diagnostics and, for load_file, the path that is read.
// `check`, when given, judges what only a connector can (client-library options, cron
// schedules, time zones): each refusal is an error at the value. Without it those values are
// only read; the binary always passes the registry's check, so `validate`, `run` and a reload
// refuse the same files.
LoadResult load_file(const std::string& path, const ConnectorCheck* check = nullptr);
LoadResult load_string(const std::string& yaml_text, const std::string& file_name,
                       const ConnectorCheck* check = nullptr);

}  // namespace triggerd::config
