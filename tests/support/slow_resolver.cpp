// A getaddrinfo that is slow on purpose, for tests that show what a slow DNS server does to
// triggerd: loaded into the real binary with LD_PRELOAD, it answers every name ending in
// ".slow.test" after TRIGGERD_TEST_RESOLVE_DELAY_MS (default 2000) milliseconds, with the
// address in the file TRIGGERD_TEST_RESOLVE_ADDRESS_FILE (read at each lookup, so a test can
// move the name) or else 127.0.0.1. Each such lookup appends the name and a newline to the
// file TRIGGERD_TEST_RESOLVE_LOG when that is set. Every other name goes to the C library.
#include <dlfcn.h>
#include <netdb.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>

namespace {

using GetAddrInfo = int (*)(const char*, const char*, const addrinfo*, addrinfo**);

std::string configured_address() {
  const char* file = std::getenv("TRIGGERD_TEST_RESOLVE_ADDRESS_FILE");
  std::string address;
  if (file != nullptr) {
    std::ifstream in(file);
    in >> address;
  }
  return address.empty() ? "127.0.0.1" : address;
}

}  // namespace

extern "C" int getaddrinfo(const char* node, const char* service, const addrinfo* hints,
                           addrinfo** result) {
  static const auto real = reinterpret_cast<GetAddrInfo>(dlsym(RTLD_NEXT, "getaddrinfo"));
  constexpr std::string_view kSuffix = ".slow.test";
  const std::string_view name = node != nullptr ? node : "";
  if (name.size() <= kSuffix.size() || !name.ends_with(kSuffix)) {
    return real(node, service, hints, result);
  }
  const char* delay = std::getenv("TRIGGERD_TEST_RESOLVE_DELAY_MS");
  std::this_thread::sleep_for(
      std::chrono::milliseconds(delay != nullptr ? std::atol(delay) : 2000));
  if (const char* log = std::getenv("TRIGGERD_TEST_RESOLVE_LOG")) {
    std::ofstream(log, std::ios::app) << name << '\n';
  }
  const std::string address = configured_address();
  return real(address.c_str(), service, hints, result);
}
