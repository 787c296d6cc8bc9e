#include "tests/support/metrics_text.hpp"

namespace triggerd::testing {

std::optional<double> sample(const std::string& metrics, const std::string& series) {
  std::string::size_type at = 0;
  while ((at = metrics.find(series, at)) != std::string::npos) {
    const bool line_start = at == 0 || metrics[at - 1] == '\n';
    const std::string::size_type value_at = at + series.size();
    if (line_start && value_at < metrics.size() && metrics[value_at] == ' ') {
      return std::stod(metrics.substr(value_at + 1, metrics.find('\n', value_at) - value_at - 1));
    }
    at = value_at;
  }
  return std::nullopt;
}

}  // namespace triggerd::testing
