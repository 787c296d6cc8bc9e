#pragma once
// Reads a triggerd YAML file into a Config: expands ${VAR}, ${VAR:-default} and *_file
// values, checks every field, and reports all mistakes at once with file, line and column.
#include <optional>
#include <string>

#include "config/config.hpp"
#include "config/diagnostic.hpp"
#include "config/option_check.hpp"

namespace triggerd::config {

struct LoadResult {
  std::optional<Config> config;  // set only when there is no error (warnings allowed)
  Diagnostics diagnostics;       // errors and warnings, in file order

  bool ok() const { return config.has_value(); }
};

// `file` is the name used in diagnostics and, for load_file, the path that is read.
// `options`, when given, judges the connections' client-library options (each refusal is an
// error at the option's value); without it they are only read.
LoadResult load_file(const std::string& path, const OptionCheck* options = nullptr);
LoadResult load_string(const std::string& yaml_text, const std::string& file_name,
                       const OptionCheck* options = nullptr);

}  // namespace triggerd::config
