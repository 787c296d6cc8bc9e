// The config loader on any bytes: a file is either a config or a list of diagnostics, never a
// crash, and every diagnostic points at a line and a column (an operator has to find the
// mistake). A file loads exactly when no diagnostic is an error.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/loader.hpp"
#include "connectors/registry.hpp"

namespace {

// `*_file` keys read the file they name. Devices and kernel files can be endless (/dev/zero)
// or wait for input (/dev/stdin): the run would report a hang of its own making, not the
// loader's. Every other path is read as the binary would read it.
bool names_a_special_file(std::string_view text) {
  for (std::string_view root : {"/dev", "/proc", "/sys"}) {
    if (text.find(root) != std::string_view::npos) return true;
  }
  return false;
}

[[noreturn]] void fail(const char* why, const triggerd::config::Diagnostic& diagnostic) {
  std::fprintf(stderr, "config loader: %s: %s\n", why, diagnostic.to_string().c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (names_a_special_file(text)) return -1;  // and keep it out of the corpus

  const triggerd::config::LoadResult result =
      triggerd::config::load_string(text, "fuzz.yaml", &triggerd::connector_check());
  bool has_error = false;
  for (const triggerd::config::Diagnostic& diagnostic : result.diagnostics) {
    if (diagnostic.line < 1 || diagnostic.column < 1) fail("no line and column", diagnostic);
    if (diagnostic.message.empty()) fail("no message", diagnostic);
    has_error = has_error || diagnostic.severity == triggerd::config::Severity::error;
  }
  if (result.ok() == has_error) {
    std::fprintf(stderr, "config loader: %s, yet %s\n", result.ok() ? "loaded" : "refused",
                 has_error ? "an error was reported" : "no error was reported");
    std::abort();
  }
  return 0;
}
