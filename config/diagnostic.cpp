#include "config/diagnostic.hpp"

namespace triggerd::config {

std::string Diagnostic::to_string() const {
  std::string out = file;
  out += ':' + std::to_string(line) + ':' + std::to_string(column) + ": ";
  out += severity == Severity::error ? "error: " : "warning: ";
  if (!path.empty()) out += path + ": ";
  out += message;
  return out;
}

}  // namespace triggerd::config
