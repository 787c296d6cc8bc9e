#pragma once
// ${VAR} and ${VAR:-default} in config values, from the process environment.
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace triggerd::config {

// Returns the variable's value, or nullopt when it is not set.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

EnvLookup process_env();

struct ExpandResult {
  std::string value;
  std::string error;  // empty on success; never contains the value of a variable
  bool ok() const { return error.empty(); }
};

// As in a POSIX shell: ${VAR} of an unset variable is an error, of an empty one is empty;
// ${VAR:-default} takes the default when VAR is unset or empty. "$${" stands for a literal
// "${"; a "$" not followed by "{" is kept as it is.
ExpandResult expand_env(std::string_view text, const EnvLookup& lookup);

}  // namespace triggerd::config
