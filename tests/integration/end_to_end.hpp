#pragma once
// What the end-to-end tests of the delivery engine share: the real triggerd binary started on
// a config that points at an in-process FunctionStub, and the ways a user looks at it from
// the outside (the webhook, /metrics, /v1/triggers, /proc, the log).
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "core/time_format.hpp"
#include "tests/function_stub/function_stub.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/metrics_text.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_file.hpp"
#include "tests/support/triggerd_process.hpp"

namespace triggerd::testing {

using std::chrono::milliseconds;

// Long enough for anything that should happen at once, even on a loaded 2-core machine; the
// waits return as soon as the condition holds.
constexpr milliseconds kEventually(5000);

// "2024-05-01T12:00:03Z" or with milliseconds "...03.250Z", the form triggerd writes (RFC 3339
// in UTC). Anything else, nothing.
inline std::optional<std::chrono::sys_time<milliseconds>> parse_utc_time(std::string_view text) {
  const std::string_view form =
      text.size() == 20 ? "dddd-dd-ddTdd:dd:ddZ" : "dddd-dd-ddTdd:dd:dd.dddZ";
  if (text.size() != form.size()) return std::nullopt;
  for (std::size_t i = 0; i < form.size(); ++i) {
    const bool digit = text[i] >= '0' && text[i] <= '9';
    if (form[i] == 'd' ? !digit : text[i] != form[i]) return std::nullopt;
  }
  // RFC 3339 allows a leap second, which a time read from the system clock never is.
  const std::optional<std::chrono::system_clock::time_point> time = parse_rfc3339(text);
  if (!time || text.substr(17, 2) == "60") return std::nullopt;
  return std::chrono::floor<milliseconds>(*time);
}

// Expects each header of `expected` on `request`, with that value.
inline void expect_headers(const RecordedRequest& request,
                           const std::map<std::string, std::string>& expected) {
  for (const auto& [name, value] : expected) EXPECT_EQ(request.header(name), value) << name;
}

// Resident memory of a process in KiB (VmRSS), or -1.
inline long rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  }
  return -1;
}

inline long long elapsed_ms(std::chrono::steady_clock::time_point from,
                            std::chrono::steady_clock::time_point to) {
  return std::chrono::duration_cast<milliseconds>(to - from).count();
}

// Whether triggerd has logged `text` so far.
inline bool log_has(TriggerdProcess& triggerd, const std::string& text) {
  return triggerd.process().err().find(text) != std::string::npos;
}

// How many lines of `log` contain `text`.
inline std::size_t count_lines(const std::string& log, const std::string& text) {
  std::size_t count = 0;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (line.find(text) != std::string::npos) ++count;
  }
  return count;
}

// Whether `trigger` has nothing waiting at its source and nothing in flight, by /metrics.
inline bool trigger_idle(std::uint16_t admin_port, const std::string& trigger) {
  const std::string metrics = http_get(admin_port, "/metrics").body;
  const std::string label = "{trigger=\"" + trigger + "\"}";
  return sample(metrics, "triggerd_queue_depth" + label) == 0.0 &&
         sample(metrics, "triggerd_inflight_events" + label) == 0.0;
}

// The server block every test config starts with: ports chosen by the kernel (read back from
// the log by TriggerdProcess), loopback only.
inline std::string server_block(std::string_view extra = "") {
  return "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n" + std::string(extra);
}

// The `functions:` section of a config with the one function `fn` at the stub's /fn (more of its
// settings in `settings`, YAML lines indented by 4), and the `triggers:` line after it.
inline std::string one_function(const FunctionStub& stub, std::string_view settings = "") {
  return "functions:\n  fn:\n    url: " + stub.url("/fn") + "\n" + std::string(settings) +
         "triggers:\n";
}

// The trigger `hook`: webhook POSTs to /hooks/orders delivered to `fn` with `delivery` (a YAML
// flow mapping).
inline std::string hook_trigger(std::string_view delivery) {
  return "  hook:\n    function: fn\n    source: {type: http, path: /hooks/orders}\n"
         "    delivery: " +
         std::string(delivery) + "\n";
}

// A FunctionStub for the function (and any http dead letter) and triggerd started on a config.
// The stub is declared first so that triggerd, destroyed first, never outlives it mid-request.
class EndToEndTest : public ::testing::Test {
 protected:
  // Starts triggerd on server_block() + `config`; fails the test if it does not start.
  // Script the stub first when the config has a cron trigger: a tick may come before this
  // returns.
  void start(const std::string& config, std::string_view server_extra = "") {
    config_ = std::make_unique<TempFile>(server_block(server_extra) + config);
    triggerd_ = std::make_unique<TriggerdProcess>(config_->path());
  }

  HttpResponse post(std::string_view path, std::string_view body, const HttpHeaders& headers = {}) {
    return http_request("POST", triggerd_->webhook_port(), path, body, headers);
  }

  // The id from a 202's body, or "" (with a test failure) when the answer was not a 202.
  static std::string accepted_id(const HttpResponse& response) {
    EXPECT_EQ(response.status, 202) << response.error << response.body;
    if (response.status != 202) return "";
    return std::string(boost::json::parse(response.body).as_object().at("id").as_string());
  }

  std::string metrics() {
    const HttpResponse response = http_get(triggerd_->admin_port(), "/metrics");
    EXPECT_EQ(response.status, 200) << response.error;
    return response.body;
  }

  std::optional<double> metric(const std::string& series) { return sample(metrics(), series); }

  // Waits until `series` reads `value`; then true.
  bool metric_reaches(const std::string& series, double value, milliseconds timeout = kEventually) {
    return wait_until([&] { return metric(series) == value; }, timeout);
  }

  // GET /v1/triggers/NAME, as KEDA reads it.
  boost::json::object trigger_status(const std::string& name) {
    const HttpResponse response = http_get(triggerd_->admin_port(), "/v1/triggers/" + name);
    EXPECT_EQ(response.status, 200) << response.error << response.body;
    if (response.status != 200) return {};
    return boost::json::parse(response.body).as_object();
  }

  std::string log() { return triggerd_->process().err(); }

  FunctionStub stub_;
  std::unique_ptr<TempFile> config_;
  std::unique_ptr<TriggerdProcess> triggerd_;
};

}  // namespace triggerd::testing
