#pragma once
// Tests that reach a server by host name need a machine that can look that name up. A bare
// chroot (no /etc/hosts) cannot even look up "localhost": such a test then skips, saying why,
// rather than failing for the machine's sake.
#include <netdb.h>

namespace triggerd::testing {

inline bool host_resolves(const char* name) {
  addrinfo* found = nullptr;
  if (::getaddrinfo(name, nullptr, nullptr, &found) != 0) return false;
  ::freeaddrinfo(found);
  return true;
}

#define TRIGGERD_SKIP_UNLESS_RESOLVES(name)                                             \
  if (!::triggerd::testing::host_resolves(name))                                        \
  GTEST_SKIP() << "this machine cannot look up " << (name) << " (no /etc/hosts entry?)"

}  // namespace triggerd::testing
