#pragma once
// A loopback TCP port that nothing listens on right now. Another process may take it before
// the caller binds it; prefer port 0 where the server can report the port it got.
#include <cstdint>

namespace triggerd::testing {

std::uint16_t free_port();

}  // namespace triggerd::testing
