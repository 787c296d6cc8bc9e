// function_stub: a stand-in for a user's serverless function, for benchmarks, the demo and
// shell tests. Answers every request with one fixed status; see usage() for the flags.
#include <signal.h>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <exception>
#include <fstream>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#include "tests/function_stub/function_stub.hpp"
#include "tests/function_stub/test_authority.hpp"

namespace {

using triggerd::testing::FunctionStub;
using triggerd::testing::FunctionStubOptions;
using triggerd::testing::RecordedRequest;

constexpr std::size_t kPrintedBodyBytes = 200;

constexpr std::string_view kUsage =
    "usage: function_stub [--listen HOST:PORT] [--threads N] [--status CODE] [--delay-ms MS]\n"
    "                     [--print] [--port-file FILE] [--latency-from ce-time|json:FIELD]\n"
    "                     [--tls-cert FILE --tls-key FILE | --tls-self-signed DIR]\n"
    "\n"
    "Answers every HTTP request with CODE (default 200) after MS milliseconds (default 0).\n"
    "  --listen HOST:PORT  address to bind (default 127.0.0.1:0; port 0: any free port)\n"
    "  --threads N         threads serving connections (default 1)\n"
    "  --print             one line per request on stdout: time, method, target, ce-type,\n"
    "                      ce-id, ce-source, ce-attempt and the first 200 bytes of the body\n"
    "  --port-file FILE    write the bound port to FILE once listening\n"
    "  --latency-from SRC  record each request's latency: receive time minus the event's\n"
    "                      start, on the system clock, into a histogram (no per-request\n"
    "                      output). SRC: ce-time (the ce-time header, RFC 3339) or\n"
    "                      json:FIELD (the integer FIELD of the JSON body, microseconds\n"
    "                      since the Unix epoch)\n"
    "  --tls-cert FILE     serve HTTPS with this PEM certificate (chain)...\n"
    "  --tls-key FILE      ...and this PEM private key\n"
    "  --tls-self-signed DIR  serve HTTPS with a certificate for localhost, 127.0.0.1 and ::1\n"
    "                      from a new test CA, written to DIR as ca.pem (trust this),\n"
    "                      server.pem and server.key\n"
    "GET /_stub/stats answers {\"requests\", \"max_concurrent\", \"connections\", ...};\n"
    "GET /_stub/latency answers {\"count\", \"unparsed\", \"min_us\", \"p50_us\", \"p90_us\",\n"
    "\"p99_us\", \"p999_us\", \"max_us\", \"mean_us\"} (null figures while count is 0);\n"
    "POST /_stub/reset sets them all to 0. Exits 0 on SIGTERM or SIGINT.\n";

struct Flags {
  FunctionStubOptions options;
  int status = 200;
  std::chrono::milliseconds delay{0};
  bool print = false;
  std::string port_file;
  std::string tls_dir;  // --tls-self-signed
};

template <typename Number>
std::optional<Number> parse_number(std::string_view text) {
  Number value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// "HOST:PORT", with IPv6 hosts in brackets: "[::1]:9000".
bool parse_listen(std::string_view text, FunctionStubOptions& options) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const auto port = parse_number<std::uint16_t>(text.substr(colon + 1));
  if (!port) return false;
  options.address = std::string(host);
  options.port = *port;
  return true;
}

// Returns an error message, or "" when the flags are good.
std::string parse_flags(int argc, char** argv, Flags& flags) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view value;
    bool has_value = false;
    if (const auto equals = arg.find('='); equals != std::string_view::npos) {
      value = arg.substr(equals + 1);
      arg = arg.substr(0, equals);
      has_value = true;
    }
    const auto take_value = [&]() -> bool {
      if (has_value) return true;
      if (i + 1 >= argc) return false;
      value = argv[++i];
      return true;
    };
    if (arg == "--print") {
      flags.print = true;
    } else if (arg == "--help" || arg == "-h") {
      return "help";
    } else if (arg != "--listen" && arg != "--threads" && arg != "--status" &&
               arg != "--delay-ms" && arg != "--port-file" && arg != "--latency-from" &&
               arg != "--tls-cert" && arg != "--tls-key" && arg != "--tls-self-signed") {
      return "unknown flag " + std::string(arg);
    } else if (!take_value()) {
      return std::string(arg) + " needs a value";
    } else if (arg == "--listen") {
      if (!parse_listen(value, flags.options)) return "--listen: expected HOST:PORT";
    } else if (arg == "--threads") {
      const auto threads = parse_number<int>(value);
      if (!threads || *threads < 1 || *threads > 256) return "--threads: expected 1..256";
      flags.options.threads = *threads;
    } else if (arg == "--status") {
      const auto status = parse_number<int>(value);
      if (!status || *status < 200 || *status > 599) return "--status: expected 200..599";
      flags.status = *status;
    } else if (arg == "--delay-ms") {
      const auto delay = parse_number<long>(value);
      if (!delay || *delay < 0) return "--delay-ms: expected a number >= 0";
      flags.delay = std::chrono::milliseconds(*delay);
    } else if (arg == "--latency-from") {
      const auto source = triggerd::testing::LatencySource::parse(value);
      if (!source) return "--latency-from: expected ce-time or json:FIELD";
      flags.options.latency_from = *source;
    } else if (arg == "--tls-cert") {
      flags.options.tls_cert_file = std::string(value);
    } else if (arg == "--tls-key") {
      flags.options.tls_key_file = std::string(value);
    } else if (arg == "--tls-self-signed") {
      flags.tls_dir = std::string(value);
    } else {
      flags.port_file = std::string(value);
    }
  }
  if (flags.options.tls_cert_file.empty() != flags.options.tls_key_file.empty()) {
    return "--tls-cert and --tls-key go together";
  }
  if (!flags.tls_dir.empty() && !flags.options.tls_cert_file.empty()) {
    return "--tls-self-signed makes its own certificate: no --tls-cert with it";
  }
  return "";
}

std::string utc_timestamp(std::chrono::system_clock::time_point time) {
  const auto since_epoch = time.time_since_epoch();
  const std::time_t seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count();
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[40];
  const std::size_t length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + length, sizeof text - length, ".%03dZ", static_cast<int>(millis));
  return text;
}

// Keeps the line a single readable line whatever the body holds.
void append_escaped(std::string& line, std::string_view bytes) {
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\n') {
      line += "\\n";
    } else if (c == '\r') {
      line += "\\r";
    } else if (c == '\t') {
      line += "\\t";
    } else if (c == '\\') {
      line += "\\\\";
    } else if (byte < 0x20 || byte >= 0x7f) {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", byte);
      line += hex;
    } else {
      line += c;
    }
  }
}

// 2026-11-28T10:00:00.000Z POST /hello ce-type=dev.triggerd.http.request ce-id=... body={...}
void print_request(const RecordedRequest& request) {
  std::string line = utc_timestamp(request.received_at);
  line += ' ';
  line += request.method;
  line += ' ';
  append_escaped(line, request.target);
  for (const char* name : {"ce-type", "ce-id", "ce-source", "ce-attempt"}) {
    if (!request.has_header(name)) continue;
    line += ' ';
    line += name;
    line += '=';
    append_escaped(line, request.header(name));
  }
  line += " body=";
  append_escaped(line, std::string_view(request.body).substr(0, kPrintedBodyBytes));
  if (request.body.size() > kPrintedBodyBytes) {
    line += "...(" + std::to_string(request.body.size()) + " bytes)";
  }
  line += '\n';
  // One fwrite per line: stdio locks the stream per call, so lines from several threads don't
  // interleave; the flush makes each line visible at once to a demo or a test reading a pipe.
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

// Written to a temporary name and renamed, so that a script polling for the file never reads
// it half-written.
void write_port_file(const std::string& path, std::uint16_t port) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << port << '\n';
    if (!out.flush()) throw std::runtime_error("can't write " + temporary);
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    throw std::runtime_error("can't rename " + temporary + " to " + path);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (const std::string error = parse_flags(argc, argv, flags); !error.empty()) {
    if (error == "help") {
      std::cout << kUsage;
      return 0;
    }
    std::cerr << "function_stub: " << error << "\n" << kUsage;
    return 2;
  }
  // A benchmark runs for long: requests are counted, never kept.
  flags.options.record = false;
  if (flags.print) flags.options.on_request = print_request;

  // Blocked before the stub starts its threads, which inherit the mask, so that sigwait below
  // is the only place these signals arrive.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  try {
    if (!flags.tls_dir.empty()) {
      const auto files = triggerd::testing::write_local_server_tls_files(flags.tls_dir);
      flags.options.tls_cert_file = files.cert_file;
      flags.options.tls_key_file = files.key_file;
    }
    FunctionStub stub(flags.options);
    stub.always(flags.status, flags.delay);
    if (!flags.port_file.empty()) write_port_file(flags.port_file, stub.port());
    std::cerr << "function_stub: listening on " << stub.url("") << " (" << flags.options.threads
              << " thread" << (flags.options.threads == 1 ? "" : "s") << ", status " << flags.status
              << ", delay " << flags.delay.count() << " ms, latency from "
              << flags.options.latency_from.name() << ")" << std::endl;
    int received = 0;
    sigwait(&signals, &received);
    stub.stop();
  } catch (const std::exception& error) {
    std::cerr << "function_stub: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
