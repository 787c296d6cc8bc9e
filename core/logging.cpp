#include "core/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <mutex>

namespace triggerd::logging {
namespace {

// Both formats print UTC with milliseconds so that lines from replicas in different zones sort.
constexpr const char* kTextPattern = "%Y-%m-%dT%H:%M:%S.%eZ %l [%n] %v";
constexpr const char* kJsonPattern =
    R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","logger":"%n","msg":%*})";
constexpr char kJsonMessageFlag = '*';

// Creation of loggers and changes of settings happen at start-up and on reload only.
std::mutex& settings_mutex() {
  static std::mutex mutex;
  return mutex;
}

// One sink shared by every logger, so one formatter change reaches them all and lines from
// different loggers never interleave mid-line.
const spdlog::sink_ptr& stderr_sink() {
  static const spdlog::sink_ptr kSink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  return kSink;
}

// %* : the message as a JSON string. spdlog's own %v would let a quote or a newline in a
// message (an error text from a function, a path) break the one-object-per-line contract.
class JsonMessageFormatter : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm& /*time*/,
              spdlog::memory_buf_t& dest) override {
    std::string escaped;
    escaped.reserve(msg.payload.size() + 2);
    append_json_string(std::string_view(msg.payload.data(), msg.payload.size()), escaped);
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<spdlog::custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFormatter>();
  }
};

std::unique_ptr<spdlog::formatter> make_formatter(Format format) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  if (format == Format::json) {
    formatter->add_flag<JsonMessageFormatter>(kJsonMessageFlag).set_pattern(kJsonPattern);
  } else {
    formatter->set_pattern(kTextPattern);
  }
  return formatter;
}

spdlog::level::level_enum to_spdlog(Level level) {
  switch (level) {
    case Level::trace:
      return spdlog::level::trace;
    case Level::debug:
      return spdlog::level::debug;
    case Level::info:
      return spdlog::level::info;
    case Level::warn:
      return spdlog::level::warn;
    case Level::error:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

std::shared_ptr<spdlog::logger> get_locked(std::string_view name) {
  const std::string key(name);
  if (auto existing = spdlog::get(key)) return existing;
  auto logger = std::make_shared<spdlog::logger>(key, stderr_sink());
  try {
    // Applies the registry's current formatter and level, and registers the logger so that
    // later configure() calls reach it.
    spdlog::initialize_logger(logger);
  } catch (const spdlog::spdlog_ex&) {
    // Registered in between by code that talks to spdlog directly: use that one.
    if (auto existing = spdlog::get(key)) return existing;
    throw;
  }
  return logger;
}

// Sets the defaults once, before the first logger exists, so that messages logged before
// configure() (a bad command line, a config file that does not load) look like the rest, and
// so that anything logged through spdlog's default logger lands on stderr in our format.
void ensure_initialized_locked() {
  static const bool kInitialized = [] {
    spdlog::set_formatter(make_formatter(Format::text));
    spdlog::set_level(spdlog::level::info);
    spdlog::set_default_logger(get_locked("triggerd"));
    return true;
  }();
  (void)kInitialized;
}

// Length of the valid UTF-8 sequence at the start of `s`, or 0 if it is not one.
std::size_t utf8_sequence_length(std::string_view s) {
  const auto byte = [&s](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(0);
  std::size_t length = 0;
  unsigned char min_second = 0x80;
  unsigned char max_second = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) min_second = 0xA0;  // overlong
    if (lead == 0xED) max_second = 0x9F;  // UTF-16 surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) min_second = 0x90;  // overlong
    if (lead == 0xF4) max_second = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < length) return 0;
  if (byte(1) < min_second || byte(1) > max_second) return 0;
  for (std::size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}

}  // namespace

void append_json_string(std::string_view text, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const std::size_t length = utf8_sequence_length(text.substr(i));
      if (length == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(text.substr(i, length));
        i += length;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

void configure(const Options& options) {
  std::lock_guard lock(settings_mutex());
  ensure_initialized_locked();
  spdlog::set_formatter(make_formatter(options.format));
  spdlog::set_level(to_spdlog(options.level));
}

std::shared_ptr<spdlog::logger> get(std::string_view name) {
  std::lock_guard lock(settings_mutex());
  ensure_initialized_locked();
  return get_locked(name);
}

}  // namespace triggerd::logging
