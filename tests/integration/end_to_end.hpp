#pragma once
// What the end-to-end tests of the delivery engine share: the real triggerd binary started on
// a config that points at an in-process FunctionStub, and the ways a user looks at it from
// the outside (the webhook, /metrics, /v1/triggers, /proc, the log).
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tests/function_stub/function_stub.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_file.hpp"
#include "tests/support/triggerd_process.hpp"

namespace triggerd::testing {

using std::chrono::milliseconds;

// Long enough for anything that should happen at once, even on a loaded 2-core machine; the
// waits return as soon as the condition holds.
constexpr milliseconds kEventually(5000);

// The value of the sample whose name and labels are exactly `series`, e.g.
// `triggerd_events_dropped_total{reason="rejected",trigger="hook"}`.
inline std::optional<double> sample(const std::string& metrics, const std::string& series) {
  std::string::size_type at = 0;
  while ((at = metrics.find(series, at)) != std::string::npos) {
    const bool line_start = at == 0 || metrics[at - 1] == '\n';
    const std::string::size_type value_at = at + series.size();
    if (line_start && value_at < metrics.size() && metrics[value_at] == ' ') {
      return std::stod(metrics.substr(value_at + 1, metrics.find('\n', value_at) - value_at - 1));
    }
    at = value_at;
  }
  return std::nullopt;
}

// "2024-05-01T12:00:03Z" or with milliseconds "...03.250Z", the form triggerd writes (RFC 3339
// in UTC). Anything else, nothing.
inline std::optional<std::chrono::sys_time<milliseconds>> parse_utc_time(std::string_view text) {
  int year = 0;
  unsigned month = 0;
  unsigned day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  int consumed = 0;
  const std::string copy(text);
  if (std::sscanf(copy.c_str(), "%4d-%2u-%2uT%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute,
                  &second, &consumed) != 6 ||
      consumed != 19) {
    return std::nullopt;
  }
  std::string_view rest = text.substr(19);
  int millis = 0;
  if (rest.size() == 5 && rest[0] == '.') {
    for (char c : rest.substr(1, 3)) {
      if (c < '0' || c > '9') return std::nullopt;
      millis = millis * 10 + (c - '0');
    }
    rest.remove_prefix(4);
  }
  const std::chrono::year_month_day date{std::chrono::year(year), std::chrono::month(month),
                                         std::chrono::day(day)};
  if (rest != "Z" || !date.ok() || hour > 23 || minute > 59 || second > 59) return std::nullopt;
  return std::chrono::sys_days(date) + std::chrono::hours(hour) + std::chrono::minutes(minute) +
         std::chrono::seconds(second) + milliseconds(millis);
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

// The server block every test config starts with: ports chosen by the kernel (read back from
// the log by TriggerdProcess), loopback only.
inline std::string server_block(std::string_view extra = "") {
  return "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n" + std::string(extra);
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
