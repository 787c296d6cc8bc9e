#pragma once
// A configuration value that must never reach a log line, an error message or the admin API.
// The only way to read it is reveal(), so every place that uses a secret is easy to find.
#include <ostream>
#include <string>
#include <utility>

namespace triggerd::config {

class Secret {
 public:
  static constexpr const char* kRedacted = "[redacted]";

  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}

  const std::string& reveal() const { return value_; }
  bool empty() const { return value_.empty(); }
  bool operator==(const Secret&) const = default;

  friend std::ostream& operator<<(std::ostream& out, const Secret& secret) {
    return out << (secret.empty() ? "" : kRedacted);
  }

 private:
  std::string value_;
};

}  // namespace triggerd::config
