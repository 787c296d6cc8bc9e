// The triggerd command line (README.md): run, validate, version.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/app.hpp"
#include "core/logging.hpp"
#include "config/loader.hpp"
#include "connectors/registry.hpp"

namespace {

using triggerd::config::Severity;

// Exit codes: 2 is what the docs promise for an invalid config, and usage errors share it (as in
// most CLIs); 1 is a start-up failure of a valid config (a port in use).
constexpr int kExitOk = 0;
constexpr int kExitStartupFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInvalidConfig = 2;

constexpr const char* kUsage =
    "usage:\n"
    "  triggerd run      [-c FILE]    run the broker (default FILE: $TRIGGERD_CONFIG, else\n"
    "                                 ./triggerd.yaml)\n"
    "  triggerd validate  -c FILE     check a config file; exit 0 if valid, 2 with every\n"
    "                                 error on stderr, one a line\n"
    "  triggerd version               print the version\n"
    "\n"
    "options:\n"
    "  -c, --config FILE              the config file\n"
    "  -h, --help                     show this help\n"
    "\n"
    "signals (run): SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the config file.\n";

struct CommandLine {
  std::string command;
  std::optional<std::string> config_file;
  bool help = false;
};

int usage_error(const std::string& message) {
  std::cerr << "triggerd: " << message << "\n\n" << kUsage;
  return kExitUsage;
}

// Returns an error message, or nothing when `args` parsed.
std::optional<std::string> parse(const std::vector<std::string_view>& args, CommandLine& out) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "-h" || arg == "--help") {
      out.help = true;
    } else if (arg == "-c" || arg == "--config") {
      if (i + 1 >= args.size()) return std::string(arg) + " needs a FILE";
      out.config_file = std::string(args[++i]);
    } else if (arg.starts_with("--config=")) {
      out.config_file = std::string(arg.substr(std::string_view("--config=").size()));
    } else if (arg.starts_with("-")) {
      return "unknown option '" + std::string(arg) + "'";
    } else if (out.command.empty()) {
      out.command = std::string(arg);
    } else {
      return "unexpected argument '" + std::string(arg) + "'";
    }
  }
  if (out.config_file && out.config_file->empty()) return "the config FILE is empty";
  return std::nullopt;
}

void print_diagnostics(const triggerd::config::LoadResult& result) {
  for (const auto& diagnostic : result.diagnostics) std::cerr << diagnostic.to_string() << '\n';
}

int validate(const std::string& file) {
  const triggerd::config::LoadResult result =
      triggerd::config::load_file(file, &triggerd::connector_check());
  print_diagnostics(result);
  if (!result.ok()) return kExitInvalidConfig;
  const std::size_t count = result.config->triggers.size();
  std::cout << file << ": ok (" << count << (count == 1 ? " trigger)" : " triggers)") << '\n';
  return kExitOk;
}

std::string default_config_file() {
  const char* from_env = std::getenv("TRIGGERD_CONFIG");
  if (from_env != nullptr && *from_env != '\0') return from_env;
  return "./triggerd.yaml";
}

int run(const std::string& file) {
  triggerd::config::LoadResult result =
      triggerd::config::load_file(file, &triggerd::connector_check());
  if (!result.ok()) {
    print_diagnostics(result);
    return kExitInvalidConfig;
  }
  triggerd::logging::configure(result.config->log);
  auto log = triggerd::logging::get("triggerd");
  auto config_log = triggerd::logging::get("config");
  for (const auto& diagnostic : result.diagnostics) {
    if (diagnostic.severity == Severity::warning) config_log->warn("{}", diagnostic.to_string());
  }
  try {
    triggerd::App app(std::move(*result.config));
    return app.run();
  } catch (const std::exception& e) {
    log->error("start-up failed: {}", e.what());
    return kExitStartupFailure;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  CommandLine command_line;
  if (auto error = parse(args, command_line)) return usage_error(*error);
  if (command_line.help || command_line.command == "help") {
    std::cout << kUsage;
    return kExitOk;
  }
  const std::string& command = command_line.command;
  if (command.empty()) return usage_error("no command given");
  if (command == "version") {
    if (command_line.config_file) return usage_error("version takes no config file");
    std::cout << "triggerd " << TRIGGERD_VERSION << '\n';
    return kExitOk;
  }
  if (command == "validate") {
    if (!command_line.config_file) return usage_error("validate needs -c FILE");
    return validate(*command_line.config_file);
  }
  if (command == "run") return run(command_line.config_file.value_or(default_config_file()));
  return usage_error("unknown command '" + command + "'");
}
