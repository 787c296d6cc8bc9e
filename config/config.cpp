#include "config/config.hpp"

#include <algorithm>

namespace triggerd::config {

namespace {
template <typename T>
const T* find_named(const std::vector<T>& items, std::string_view name) {
  auto it = std::find_if(items.begin(), items.end(), [&](const T& t) { return t.name == name; });
  return it == items.end() ? nullptr : &*it;
}
}  // namespace

const Connection* Config::find_connection(std::string_view name) const {
  return find_named(connections, name);
}
const Function* Config::find_function(std::string_view name) const {
  return find_named(functions, name);
}
const Trigger* Config::find_trigger(std::string_view name) const {
  return find_named(triggers, name);
}

bool is_valid_name(std::string_view name) {
  if (name.empty() || name.size() > 63 || name[0] == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

const char* source_type_name(const SourceSpec& source) {
  static constexpr const char* kNames[] = {"kafka", "redis-stream", "redis-list", "http", "cron"};
  static_assert(std::variant_size_v<SourceSpec> == std::size(kNames));
  return kNames[source.index()];
}

const char* dead_letter_type_name(const DeadLetter& dead_letter) {
  static constexpr const char* kNames[] = {"redis-stream", "redis-list", "kafka", "http"};
  static_assert(std::variant_size_v<DeadLetter> == std::size(kNames));
  return kNames[dead_letter.index()];
}

}  // namespace triggerd::config
