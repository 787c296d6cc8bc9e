#pragma once
// Reading the Prometheus text that triggerd's /metrics serves, as a test looks at it.
#include <optional>
#include <string>

namespace triggerd::testing {

// The value of the sample whose name and labels are exactly `series`, e.g.
// `triggerd_events_dropped_total{reason="rejected",trigger="hook"}`; nothing when `metrics` has
// no such line.
std::optional<double> sample(const std::string& metrics, const std::string& series);

}  // namespace triggerd::testing
