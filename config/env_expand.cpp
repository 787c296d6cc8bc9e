#include "config/env_expand.hpp"

#include <algorithm>
#include <cstdlib>

#include "core/text.hpp"

namespace triggerd::config {
namespace {

bool valid_variable_name(std::string_view name) {
  if (name.empty() || is_ascii_digit(name[0])) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return is_ascii_alnum(c) || c == '_'; });
}

}  // namespace

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

ExpandResult expand_env(std::string_view text, const EnvLookup& lookup) {
  ExpandResult result;
  std::string& out = result.value;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 3;
      continue;
    }
    if (text.compare(i, 2, "${") != 0) {
      out += text[i++];
      continue;
    }
    std::size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      result.error = "unclosed \"${\" (write \"$${\" for a literal \"${\")";
      return result;
    }
    std::string_view inner = text.substr(i + 2, close - i - 2);
    std::optional<std::string_view> fallback;
    if (auto sep = inner.find(":-"); sep != std::string_view::npos) {
      fallback = inner.substr(sep + 2);
      inner = inner.substr(0, sep);
    }
    if (!valid_variable_name(inner)) {
      result.error = "\"${" + std::string(inner) + "}\" is not a valid variable name";
      return result;
    }
    std::optional<std::string> value = lookup(std::string(inner));
    if (fallback && (!value || value->empty())) {
      out += *fallback;
    } else if (value) {
      out += *value;
    } else {
      result.error = "environment variable " + std::string(inner) + " is not set (write ${" +
                     std::string(inner) + ":-default} to give a default)";
      return result;
    }
    i = close + 1;
  }
  return result;
}

}  // namespace triggerd::config
