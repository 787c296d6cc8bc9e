#pragma once
// A host and a port to listen on or to connect to, as the config names them.
#include <cstdint>
#include <string>

namespace triggerd {

struct HostPort {
  std::string host;  // name or address; IPv6 without brackets
  std::uint16_t port = 0;
  std::string to_string() const;  // host:port, [v6]:port
  bool operator==(const HostPort&) const = default;
};

}  // namespace triggerd
