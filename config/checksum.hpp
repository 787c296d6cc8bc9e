#pragma once
// The checksum of a config file: "sha256:" and the lower-case hex SHA-256 of its bytes. The
// admin API shows it (/v1/config), so that an operator can tell which version of the file a
// replica runs by comparing it with `sha256sum` of the file they meant to ship; the file
// watcher compares it to tell a real change from a swap that left the bytes as they were.
#include <optional>
#include <string>
#include <string_view>

namespace triggerd::config {

std::string checksum_of(std::string_view bytes);

// The checksum of the file at `path` (symlinks followed), read whole. std::nullopt when it
// cannot be read; then `error`, when given, says why (strerror's text).
std::optional<std::string> checksum_of_file(const std::string& path, std::string* error = nullptr);

}  // namespace triggerd::config
