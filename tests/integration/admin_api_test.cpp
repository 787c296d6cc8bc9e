// The admin API and the signals of a running triggerd (README.md, docs/admin-api.md,
// docs/metrics.md), seen from the outside: the real binary on loopback ports, read over HTTP
// as Prometheus and KEDA read it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <csignal>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "tests/support/free_port.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/metrics_text.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_file.hpp"
#include "tests/support/triggerd_process.hpp"

namespace triggerd::testing {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;

// One trigger of each source type. The Kafka and Redis connections point at port 1 on
// loopback, which is never a Kafka or a Redis: those sources stay down, the others come up.
std::string config_text(const std::string& extra_log = "") {
  return R"(server:
  listen: 127.0.0.1:)" +
         std::to_string(free_port()) + R"(
  admin_listen: 127.0.0.1:0
log:
  level: info
)" + extra_log +
         R"(
connections:
  kafka-main:
    type: kafka
    brokers: [127.0.0.1:1]
  redis-main:
    type: redis
    address: 127.0.0.1:1
functions:
  resize:
    url: http://127.0.0.1:9/resize
  report:
    url: http://127.0.0.1:9/report
triggers:
  orders:
    function: resize
    source: {type: kafka, connection: kafka-main, topic: orders}
    scaling: {target_per_replica: 10, activation: 0, min_replicas: 0, max_replicas: 50}
  stream-jobs:
    function: resize
    source: {type: redis-stream, connection: redis-main, stream: jobs}
    scaling: {min_replicas: 2}
  list-jobs:
    function: report
    source: {type: redis-list, connection: redis-main, list: jobs}
  hook:
    function: report
    source: {type: http, path: /hooks/a}
    scaling: {min_replicas: 1, activation: 5}
  tick:
    function: report
    source: {type: cron, schedule: "@every 1h"}
)";
}

struct ExpectedTrigger {
  const char* name;
  const char* source;
  const char* function;
  std::int64_t min_replicas;
  bool up;  // triggerd_source_up
};

const ExpectedTrigger kTriggers[] = {
    {"orders", "kafka", "resize", 0, false},
    {"stream-jobs", "redis-stream", "resize", 2, false},
    {"list-jobs", "redis-list", "report", 0, false},
    {"hook", "http", "report", 1, true},
    {"tick", "cron", "report", 0, true},
};

const char* const kPerTriggerMetrics[] = {
    "triggerd_events_received_total",
    "triggerd_events_delivered_total",
    "triggerd_events_dead_lettered_total",
    "triggerd_events_dropped_total",
    "triggerd_events_filtered_total",
    "triggerd_delivery_attempts_total",
    "triggerd_queue_depth",
    "triggerd_inflight_events",
    "triggerd_desired_replicas",
    "triggerd_delivery_duration_seconds_bucket",
    "triggerd_delivery_duration_seconds_sum",
    "triggerd_delivery_duration_seconds_count",
    "triggerd_event_duration_seconds_bucket",
    "triggerd_event_duration_seconds_sum",
    "triggerd_event_duration_seconds_count",
    "triggerd_source_up",
};

// Whether some sample of `name` has the label trigger="TRIGGER" and, unless `value` is empty,
// that value, e.g. `triggerd_queue_depth{trigger="orders"} 0`.
bool has_series(const std::string& metrics, const std::string& name, const std::string& trigger,
                const std::string& value) {
  const std::string label = "trigger=\"" + trigger + "\"";
  std::string::size_type start = 0;
  while (start < metrics.size()) {
    auto end = metrics.find('\n', start);
    if (end == std::string::npos) end = metrics.size();
    const std::string_view line(metrics.data() + start, end - start);
    start = end + 1;
    if (!line.starts_with(name + "{")) continue;
    const auto close = line.find("} ");
    if (close == std::string_view::npos || line.substr(0, close).find(label) == line.npos) {
      continue;
    }
    if (value.empty() || line.substr(close + 2) == value) return true;
  }
  return false;
}

class AdminApi : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = std::make_unique<TempFile>(config_text());
    triggerd_ = std::make_unique<TriggerdProcess>(config_->path());
    port_ = triggerd_->admin_port();
  }

  std::string metrics() {
    const HttpResponse response = http_get(port_, "/metrics");
    EXPECT_EQ(response.status, 200) << response.error;
    return response.body;
  }

  std::optional<double> reloads(const char* result) {
    return sample(metrics(),
                  std::string("triggerd_config_reloads_total{result=\"") + result + "\"}");
  }

  std::unique_ptr<TempFile> config_;
  std::unique_ptr<TriggerdProcess> triggerd_;
  std::uint16_t port_ = 0;
};

TEST_F(AdminApi, MetricsAreCleanForPromtool) {
  const HttpResponse response = http_get(port_, "/metrics");
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");

  const std::optional<std::string> promtool = find_in_path("promtool");
  ASSERT_TRUE(promtool) << "promtool not found: apt-get install prometheus (scripts/setup)";
  const TempFile body(response.body, ".prom");
  const RunResult check = run_process(*promtool, {"check", "metrics"}, {.stdin_file = body.path()});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_EQ(check.out + check.err, "") << "promtool found problems in:\n" << response.body;
}

TEST_F(AdminApi, MetricsHoldEverySeriesOfEveryTriggerBeforeAnyEvent) {
  const std::string body = metrics();
  for (const ExpectedTrigger& trigger : kTriggers) {
    for (const std::string name : kPerTriggerMetrics) {
      // Desired replicas are min_replicas (checked below); everything else but source_up
      // starts at zero.
      const std::string value = name == "triggerd_source_up" ? (trigger.up ? "1" : "0") : "0";
      const bool exact = name != "triggerd_desired_replicas";
      EXPECT_TRUE(has_series(body, name, trigger.name, exact ? value : ""))
          << name << " for " << trigger.name;
    }
    EXPECT_EQ(sample(body, std::string("triggerd_desired_replicas{function=\"") + trigger.function +
                               "\",trigger=\"" + trigger.name + "\"}"),
              static_cast<double>(trigger.min_replicas))
        << trigger.name;
    for (const char* result : {"2xx", "4xx", "5xx", "timeout", "connect_error"}) {
      EXPECT_EQ(sample(body, std::string("triggerd_delivery_attempts_total{result=\"") + result +
                                 "\",trigger=\"" + trigger.name + "\"}"),
                0.0)
          << result << " for " << trigger.name;
    }
    for (const char* reason : {"retries_exhausted", "rejected", "dead_letter_failed"}) {
      EXPECT_EQ(sample(body, std::string("triggerd_events_dropped_total{reason=\"") + reason +
                                 "\",trigger=\"" + trigger.name + "\"}"),
                0.0)
          << reason << " for " << trigger.name;
    }
    for (const char* reason : {"temporary", "permanent"}) {
      EXPECT_EQ(sample(body, std::string("triggerd_dead_letter_failures_total{reason=\"") +
                                 reason + "\",trigger=\"" + trigger.name + "\"}"),
                0.0)
          << reason << " for " << trigger.name;
    }
    for (const char* kind : {"connect", "command", "ack", "commit"}) {
      // The Kafka and Redis sources point at a closed port: their connect errors count up.
      EXPECT_TRUE(sample(body, std::string("triggerd_source_errors_total{kind=\"") + kind +
                                   "\",trigger=\"" + trigger.name + "\"}"))
          << kind << " for " << trigger.name;
    }
  }
  for (const char* status : {"400", "401", "405", "413", "431", "503"}) {
    EXPECT_EQ(sample(body, std::string("triggerd_webhook_rejected_total{status=\"") + status +
                               "\",trigger=\"hook\"}"),
              0.0)
        << status;
  }
  EXPECT_EQ(sample(body, "triggerd_webhook_rejected_total{status=\"404\",trigger=\"\"}"), 0.0);
  EXPECT_EQ(sample(body, "triggerd_build_info{version=\"" TRIGGERD_VERSION "\"}"), 1.0);
  EXPECT_EQ(sample(body, "triggerd_config_reloads_total{result=\"success\"}"), 0.0);
  EXPECT_EQ(sample(body, "triggerd_config_reloads_total{result=\"failure\"}"), 0.0);
}

TEST_F(AdminApi, LiveButNotReadyWhileSomeSourceIsDown) {
  const HttpResponse livez = http_get(port_, "/livez");
  EXPECT_EQ(livez.status, 200) << livez.error;
  const HttpResponse readyz = http_get(port_, "/readyz");
  EXPECT_EQ(readyz.status, 503) << readyz.error << readyz.body;
  EXPECT_THAT(readyz.body, HasSubstr("orders"));
  EXPECT_THAT(readyz.body, ::testing::Not(HasSubstr("tick")));
}

TEST(AdminApiReadiness, ReadyOnceEverySourceIsUp) {
  const TempFile config(R"(server:
  listen: 127.0.0.1:)" + std::to_string(free_port()) + R"(
  admin_listen: 127.0.0.1:0
functions:
  report: {url: "http://127.0.0.1:9/report"}
triggers:
  hook:
    function: report
    source: {type: http, path: /hooks/a}
  tick:
    function: report
    source: {type: cron, schedule: "@every 1h"}
)");
  TriggerdProcess triggerd(config.path());
  const HttpResponse readyz = http_get(triggerd.admin_port(), "/readyz");
  EXPECT_EQ(readyz.status, 200) << readyz.error << readyz.body;
}

TEST_F(AdminApi, TriggersListHasEveryTriggerInConfigOrder) {
  const HttpResponse response = http_get(port_, "/v1/triggers");
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.header("Content-Type"), "application/json");
  const json::value list = json::parse(response.body);
  ASSERT_TRUE(list.is_array()) << response.body;
  ASSERT_EQ(list.as_array().size(), std::size(kTriggers));
  for (std::size_t i = 0; i < std::size(kTriggers); ++i) {
    EXPECT_EQ(list.as_array()[i].at("name").as_string(), kTriggers[i].name);
  }
}

TEST_F(AdminApi, TriggerHasExactlyTheSpecFieldsWithTheirValues) {
  const std::set<std::string> kFields{
      "name",      "source",        "function",         "queue_depth",
      "inflight",  "backlog",       "desired_replicas", "active",
      "delivered", "dead_lettered", "dropped",          "backlog_total"};
  for (const ExpectedTrigger& trigger : kTriggers) {
    const HttpResponse response = http_get(port_, std::string("/v1/triggers/") + trigger.name);
    ASSERT_EQ(response.status, 200) << trigger.name << ": " << response.error << response.body;
    const json::value value = json::parse(response.body);
    ASSERT_TRUE(value.is_object()) << response.body;
    const json::object& object = value.as_object();
    std::set<std::string> fields;
    for (const auto& entry : object) fields.insert(std::string(entry.key()));
    EXPECT_EQ(fields, kFields) << response.body;

    EXPECT_EQ(object.at("name").as_string(), trigger.name);
    EXPECT_EQ(object.at("source").as_string(), trigger.source);
    EXPECT_EQ(object.at("function").as_string(), trigger.function);
    for (const char* zero :
         {"queue_depth", "inflight", "backlog", "backlog_total", "delivered", "dead_lettered",
          "dropped"}) {
      EXPECT_EQ(object.at(zero).as_int64(), 0) << zero << " of " << trigger.name;
    }
    EXPECT_EQ(object.at("desired_replicas").as_int64(), trigger.min_replicas) << trigger.name;
    EXPECT_EQ(object.at("active").as_bool(), false) << trigger.name;
  }
}

TEST_F(AdminApi, UnknownTriggerAndPathAreJson404s) {
  for (const char* target : {"/v1/triggers/nope", "/v1/triggers/", "/nope", "/v1/trigger"}) {
    const HttpResponse response = http_get(port_, target);
    EXPECT_EQ(response.status, 404) << target << ": " << response.error;
    EXPECT_EQ(response.header("Content-Type"), "application/json") << target;
    const json::value body = json::parse(response.body);
    EXPECT_TRUE(body.as_object().at("error").is_string()) << target << ": " << response.body;
  }
  EXPECT_THAT(http_get(port_, "/v1/triggers/nope").body, HasSubstr("nope"));
}

TEST_F(AdminApi, OnlyGetIsAllowed) {
  for (const char* method : {"POST", "PUT", "DELETE", "HEAD"}) {
    const HttpResponse response = http_request(method, port_, "/v1/triggers", "{}");
    EXPECT_EQ(response.status, 405) << method << ": " << response.error;
    EXPECT_EQ(response.header("Allow"), "GET") << method;
  }
}

TEST_F(AdminApi, KeepsTheConnectionAliveAcrossRequests) {
  HttpConnection connection(port_);
  for (const char* target : {"/livez", "/metrics", "/v1/triggers", "/nope", "/readyz"}) {
    const HttpResponse response = connection.request("GET", target);
    EXPECT_NE(response.status, 0) << target << ": " << response.error;
    EXPECT_TRUE(response.keep_alive) << target;
  }
  // A refused method does not cost the connection either.
  EXPECT_EQ(connection.request("POST", "/metrics", "x").status, 405);
  EXPECT_EQ(connection.request("GET", "/livez").status, 200);
}

TEST_F(AdminApi, ReloadOfAnInvalidFileIsRefusedAndTheOldConfigStays) {
  config_->write("triggers:\n  orders: {function: nope}\n  stray: [\n");
  triggerd_->process().send_signal(SIGHUP);
  EXPECT_TRUE(wait_until([&] { return reloads("failure") == 1.0; }, std::chrono::seconds(10)))
      << triggerd_->process().err();
  EXPECT_EQ(reloads("success"), 0.0);
  EXPECT_TRUE(triggerd_->process().running());
  EXPECT_THAT(triggerd_->process().err(), HasSubstr("config reload refused"));
  EXPECT_THAT(triggerd_->process().err(), HasSubstr(config_->path() + ":"));
  // Still serving, with the old triggers.
  EXPECT_EQ(http_get(port_, "/livez").status, 200);
  EXPECT_EQ(http_get(port_, "/v1/triggers/orders").status, 200);
}

TEST_F(AdminApi, ReloadOfAValidFileIsCountedAndAppliesTheLogSettings) {
  config_->write(config_text("  format: json\n"));
  triggerd_->process().send_signal(SIGHUP);
  EXPECT_TRUE(wait_until([&] { return reloads("success") == 1.0; }, std::chrono::seconds(10)))
      << triggerd_->process().err();
  EXPECT_EQ(reloads("failure"), 0.0);
  // The line about the reload is already written in the new format.
  EXPECT_TRUE(wait_until(
      [&] {
        return triggerd_->process().err().find(R"("msg":"config reloaded)") != std::string::npos;
      },
      std::chrono::seconds(5)))
      << triggerd_->process().err();
  EXPECT_EQ(http_get(port_, "/livez").status, 200);
}

TEST(AdminApiWebhook, RefusedRequestsAreCountedByTriggerAndStatus) {
  const std::uint16_t webhook_port = free_port();
  const TempFile config(R"(server:
  listen: 127.0.0.1:)" + std::to_string(webhook_port) +
                        R"(
  admin_listen: 127.0.0.1:0
  max_body_size: 16B
functions:
  report:
    url: http://127.0.0.1:9/report
triggers:
  hook:
    function: report
    source: {type: http, path: /hooks/a, auth: {bearer: {token: open-sesame}}}
)");
  TriggerdProcess triggerd(config.path());
  const HttpHeaders token{{"Authorization", "Bearer open-sesame"}};
  EXPECT_EQ(http_request("POST", webhook_port, "/hooks/a", "{}").status, 401);
  EXPECT_EQ(http_request("POST", webhook_port, "/hooks/a", "{}", {{"Authorization", "Bearer no"}})
                .status,
            401);
  EXPECT_EQ(http_request("POST", webhook_port, "/nowhere", "{}", token).status, 404);
  EXPECT_EQ(http_request("GET", webhook_port, "/hooks/a", "", token).status, 405);
  EXPECT_EQ(http_request("POST", webhook_port, "/hooks/a", std::string(64, 'x'), token).status,
            413);

  const HttpResponse response = http_get(triggerd.admin_port(), "/metrics");
  ASSERT_EQ(response.status, 200) << response.error;
  auto rejected = [&](const char* status, const char* trigger) {
    return sample(response.body, std::string("triggerd_webhook_rejected_total{status=\"") +
                                     status + "\",trigger=\"" + trigger + "\"}");
  };
  EXPECT_EQ(rejected("401", "hook"), 2.0) << response.body;
  EXPECT_EQ(rejected("404", ""), 1.0);
  EXPECT_EQ(rejected("405", "hook"), 1.0);
  EXPECT_EQ(rejected("413", "hook"), 1.0);
  EXPECT_EQ(rejected("503", "hook"), 0.0);
  // The refusals are not events: nothing was received.
  EXPECT_EQ(sample(response.body, "triggerd_events_received_total{trigger=\"hook\"}"), 0.0);
}

TEST_F(AdminApi, SigtermStopsPromptlyWithExitCodeZero) {
  triggerd_->process().send_signal(SIGTERM);
  EXPECT_EQ(triggerd_->process().wait_for_exit(std::chrono::seconds(5)), 0)
      << triggerd_->process().err();
  const HttpResponse readyz = http_get(port_, "/readyz");
  EXPECT_TRUE(readyz.status == 0 || readyz.status == 503) << readyz.status;
}

TEST_F(AdminApi, SigintStopsLikeSigterm) {
  triggerd_->process().send_signal(SIGINT);
  EXPECT_EQ(triggerd_->process().wait_for_exit(std::chrono::seconds(5)), 0)
      << triggerd_->process().err();
}

}  // namespace
}  // namespace triggerd::testing
