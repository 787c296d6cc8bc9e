#pragma once
// How the logs are written: the `log:` section of the config, applied by logging::configure.
namespace triggerd::logging {

enum class Level { trace, debug, info, warn, error };
enum class Format { text, json };

struct Options {
  Level level = Level::info;
  Format format = Format::text;
  bool operator==(const Options&) const = default;
};

}  // namespace triggerd::logging
