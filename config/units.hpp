#pragma once
// Durations ("250ms", "1m30s") and sizes ("512KiB") as written in the config file.
// A bare number is refused on purpose: "timeout: 30" is ambiguous (seconds? ms?).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace triggerd::config {

// Units: ms, s, m, h; several may follow each other from largest to smallest ("1h30m").
std::optional<Duration> parse_duration(std::string_view text);
// Units: B, KiB, MiB, GiB (powers of 1024) and KB, MB, GB (powers of 1000).
std::optional<std::uint64_t> parse_size(std::string_view text);

// The shortest exact spelling of a duration in the units above, e.g. 90000ms -> "1m30s".
std::string format_duration(Duration duration);

}  // namespace triggerd::config
