// The admin server in-process, where a test can set what the running app cannot be made to
// show from outside yet: a source down, a backlog, a drain. The HTTP details (keep-alive,
// 404/405, promtool) are covered against the real binary in tests/integration.
#include "broker/admin_server.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/counter.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/json/parse.hpp>
#include <functional>
#include <future>
#include <stdexcept>
#include <thread>

#include "broker/config_status.hpp"
#include "broker/health.hpp"
#include "config/checksum.hpp"
#include "config/loader.hpp"
#include "core/metrics.hpp"
#include "core/time_format.hpp"
#include "tests/support/http_client.hpp"

namespace triggerd {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::http_get;

std::vector<MonitoredTrigger> triggers_named(std::initializer_list<const char*> names) {
  std::vector<MonitoredTrigger> triggers;
  for (const char* name : names) {
    triggers.push_back({.name = name, .function = "fn", .source_type = "redis-list"});
    triggers.back().scaling = {
        .target_per_replica = 10, .activation = 3, .min_replicas = 0, .max_replicas = 4};
  }
  return triggers;
}

// Runs the server on its own io_context thread; every change to the state it reads is made
// on that thread too, as the app does.
class AdminServerTest : public ::testing::Test {
 protected:
  AdminServerTest()
      : metrics_(triggers_named({"jobs", "mail"}), "9.9.9"),
        health_(metrics_),
        server_(io_, metrics_, health_, config_status_) {}

  void SetUp() override {
    server_.start({"127.0.0.1", 0});
    thread_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    on_loop([this] { server_.stop(); });
    work_.reset();
    thread_.join();
  }

  void on_loop(std::function<void()> change) {
    std::promise<void> done;
    boost::asio::post(io_, [&] {
      change();
      done.set_value();
    });
    done.get_future().wait();
  }

  boost::asio::io_context io_;
  // Keeps the loop running after a test has stopped the server, so on_loop() still works.
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{
      io_.get_executor()};
  Metrics metrics_;
  Health health_;
  ConfigStatus config_status_;
  AdminServer server_;
  std::thread thread_;
};

TEST_F(AdminServerTest, ReadyOnlyOnceStartedWithEverySourceUp) {
  auto readyz = [this] { return http_get(server_.port(), "/readyz"); };
  EXPECT_EQ(readyz().status, 503);
  EXPECT_THAT(readyz().body, HasSubstr("starting"));

  on_loop([this] { health_.set_started(); });
  EXPECT_EQ(readyz().status, 503);
  EXPECT_THAT(readyz().body, HasSubstr("source down: jobs, mail"));

  on_loop([this] { metrics_.find("jobs")->state.set_source_up(true); });
  EXPECT_THAT(readyz().body, HasSubstr("source down: mail"));

  on_loop([this] { metrics_.find("mail")->state.set_source_up(true); });
  EXPECT_EQ(readyz().status, 200);

  on_loop([this] { metrics_.find("mail")->state.set_source_up(false); });
  EXPECT_EQ(readyz().status, 503) << "a source that goes down takes readiness with it";
}

TEST_F(AdminServerTest, NotReadyFromTheMomentADrainStarts) {
  on_loop([this] {
    health_.set_started();
    for (const auto& trigger : *metrics_.triggers()) trigger->state.set_source_up(true);
  });
  EXPECT_EQ(http_get(server_.port(), "/readyz").status, 200);
  on_loop([this] { health_.begin_drain(); });
  const auto response = http_get(server_.port(), "/readyz");
  EXPECT_EQ(response.status, 503);
  EXPECT_THAT(response.body, HasSubstr("draining"));
  EXPECT_EQ(http_get(server_.port(), "/livez").status, 200) << "alive while draining";
}

TEST_F(AdminServerTest, TriggerShowsBacklogAndScalingFromTheLiveState) {
  on_loop([this] {
    TriggerTelemetry& jobs = *metrics_.find("jobs");
    jobs.state.set_queue_depth(25);
    jobs.state.add_inflight(3);
    jobs.metrics.delivered.Increment(7);
    jobs.metrics.dead_lettered.Increment(2);
    jobs.metrics.dropped_rejected.Increment();
  });
  const auto response = http_get(server_.port(), "/v1/triggers/jobs");
  ASSERT_EQ(response.status, 200) << response.error;
  const auto body = boost::json::parse(response.body).as_object();
  EXPECT_EQ(body.at("source").as_string(), "redis-list");
  EXPECT_EQ(body.at("queue_depth").as_int64(), 25);
  EXPECT_EQ(body.at("inflight").as_int64(), 3);
  EXPECT_EQ(body.at("backlog").as_int64(), 28);
  EXPECT_EQ(body.at("backlog_total").as_int64(), 28) << "no queue figure yet: this replica's";
  EXPECT_EQ(body.at("desired_replicas").as_int64(), 3);  // ceil(28 / 10)
  EXPECT_EQ(body.at("active").as_bool(), true);
  EXPECT_EQ(body.at("delivered").as_int64(), 7);
  EXPECT_EQ(body.at("dead_lettered").as_int64(), 2);
  EXPECT_EQ(body.at("dropped").as_int64(), 1);

  // The gauge is brought up to date by the scrape itself.
  EXPECT_THAT(http_get(server_.port(), "/metrics").body,
              HasSubstr("triggerd_desired_replicas{function=\"fn\",trigger=\"jobs\"} 3\n"));
}

TEST_F(AdminServerTest, BacklogAtActivationIsNotActive) {
  on_loop([this] { metrics_.find("mail")->state.set_queue_depth(3); });
  const auto body =
      boost::json::parse(http_get(server_.port(), "/v1/triggers/mail").body).as_object();
  EXPECT_EQ(body.at("backlog").as_int64(), 3);
  EXPECT_EQ(body.at("active").as_bool(), false);
  EXPECT_EQ(body.at("desired_replicas").as_int64(), 0);
}

TEST_F(AdminServerTest, QueueWideBacklogDrivesScalingAndIsNeverBelowOwnBacklog) {
  on_loop([this] {
    TriggerState& state = metrics_.find("jobs")->state;
    state.set_queue_depth(4);
    state.set_backlog_total(27);  // other replicas hold the rest
  });
  auto body = boost::json::parse(http_get(server_.port(), "/v1/triggers/jobs").body).as_object();
  EXPECT_EQ(body.at("backlog").as_int64(), 4);
  EXPECT_EQ(body.at("backlog_total").as_int64(), 27);
  EXPECT_EQ(body.at("desired_replicas").as_int64(), 3);  // ceil(27 / 10)
  EXPECT_THAT(http_get(server_.port(), "/metrics").body,
              HasSubstr("triggerd_backlog_total{trigger=\"jobs\"} 27\n"));

  // A stale queue figure below what this replica holds right now does not hide it.
  on_loop([this] { metrics_.find("jobs")->state.add_inflight(40); });
  body = boost::json::parse(http_get(server_.port(), "/v1/triggers/jobs").body).as_object();
  EXPECT_EQ(body.at("backlog_total").as_int64(), 44);
}

ConfigStatus::Time at(const char* rfc3339) { return *parse_rfc3339(rfc3339); }

TEST_F(AdminServerTest, ConfigShowsTheRunningFileAndHowTheLastReloadWent) {
  // A file with a secret in it: its checksum is shown, never a value.
  const std::string text = R"(functions:
  fn:
    url: http://127.0.0.1:9000/
    headers: {Authorization: Bearer fn-s3cret}
triggers:
  hook:
    function: fn
    source: {type: http, path: /hook, auth: {bearer: {token: hook-s3cret}}}
)";
  const config::LoadResult started = config::load_string(text, "/etc/triggerd/triggerd.yaml");
  ASSERT_TRUE(started.ok());
  on_loop([&] {
    config_status_.started(*started.config, at("2026-12-07T10:00:00Z"));
    config_status_.watch = true;
  });
  auto response = http_get(server_.port(), "/v1/config");
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_EQ(response.header("content-type"), "application/json");
  auto body = boost::json::parse(response.body).as_object();
  std::vector<std::string> fields;
  for (const auto& field : body) fields.emplace_back(field.key());
  EXPECT_THAT(fields,
              ::testing::ElementsAre("file", "checksum", "loaded_at", "last_reload", "watch"));
  EXPECT_EQ(body.at("file").as_string(), "/etc/triggerd/triggerd.yaml");
  EXPECT_EQ(body.at("checksum").as_string(), config::checksum_of(text));
  EXPECT_EQ(body.at("loaded_at").as_string(), "2026-12-07T10:00:00Z");
  EXPECT_EQ(body.at("watch").as_bool(), true);
  auto reload = body.at("last_reload").as_object();
  EXPECT_TRUE(reload.at("at").is_null()) << "no reload yet";
  EXPECT_EQ(reload.at("result").as_string(), "none");
  EXPECT_TRUE(reload.at("error").is_null());
  for (const char* value : {"s3cret", "127.0.0.1:9000", "/hook"}) {
    EXPECT_THAT(response.body, ::testing::Not(HasSubstr(value)));
  }

  // A refused reload: the running config stays, and the first error says why.
  const config::LoadResult refused = config::load_string(
      text + "    delivery: {retries: -1, max_inflight: 0}\n", "/etc/triggerd/triggerd.yaml");
  ASSERT_FALSE(refused.ok());
  on_loop([&] { config_status_.reload_failed(refused, at("2026-12-07T10:05:00.250Z")); });
  body = boost::json::parse(http_get(server_.port(), "/v1/config").body).as_object();
  EXPECT_EQ(body.at("checksum").as_string(), config::checksum_of(text));
  EXPECT_EQ(body.at("loaded_at").as_string(), "2026-12-07T10:00:00Z");
  reload = body.at("last_reload").as_object();
  EXPECT_EQ(reload.at("at").as_string(), "2026-12-07T10:05:00.250Z");
  EXPECT_EQ(reload.at("result").as_string(), "failure");
  EXPECT_EQ(reload.at("error").as_string(),
            "/etc/triggerd/triggerd.yaml:9:25: error: triggers.hook.delivery.retries: must be an "
            "integer >= 0");

  // A reload that took: the new file's checksum, from the moment it was loaded.
  const std::string edited = text + "log: {level: debug}\n";
  const config::LoadResult reloaded = config::load_string(edited, "/etc/triggerd/triggerd.yaml");
  ASSERT_TRUE(reloaded.ok());
  on_loop([&] { config_status_.reload_succeeded(*reloaded.config, at("2026-12-07T10:07:00Z")); });
  body = boost::json::parse(http_get(server_.port(), "/v1/config").body).as_object();
  EXPECT_EQ(body.at("checksum").as_string(), config::checksum_of(edited));
  EXPECT_NE(body.at("checksum").as_string(), config::checksum_of(text));
  EXPECT_EQ(body.at("loaded_at").as_string(), "2026-12-07T10:07:00Z");
  reload = body.at("last_reload").as_object();
  EXPECT_EQ(reload.at("at").as_string(), "2026-12-07T10:07:00Z");
  EXPECT_EQ(reload.at("result").as_string(), "success");
  EXPECT_TRUE(reload.at("error").is_null()) << "the earlier failure's error is gone";
}

TEST_F(AdminServerTest, UnknownPathNamesEveryRouteConfigIncluded) {
  const auto response = http_get(server_.port(), "/v1/configs");
  EXPECT_EQ(response.status, 404);
  EXPECT_THAT(response.body, HasSubstr("/v1/triggers[/NAME] and /v1/config"));
}

TEST_F(AdminServerTest, AdminAuthGuardsEveryRouteButTheProbes) {
  on_loop([this] { server_.set_auth(config::BearerAuth{config::Secret("s3cret-admin")}); });
  const auto with = [this](std::string_view target, std::string value) {
    return testing::http_request("GET", server_.port(), target, "",
                                 {{"Authorization", std::move(value)}});
  };
  for (const char* target : {"/metrics", "/v1/triggers", "/v1/triggers/jobs", "/v1/config",
                             "/v1/nothing"}) {
    SCOPED_TRACE(target);
    const auto none = http_get(server_.port(), target);
    EXPECT_EQ(none.status, 401);
    EXPECT_EQ(none.headers.at("www-authenticate"), "Bearer realm=\"triggerd admin\"");
    EXPECT_THAT(none.body, Not(HasSubstr("s3cret")));
    EXPECT_EQ(with(target, "Bearer s3cret-admi").status, 401);
    EXPECT_EQ(with(target, "Basic s3cret-admin").status, 401);
    EXPECT_NE(with(target, "bearer s3cret-admin").status, 401);
  }
  EXPECT_EQ(with("/metrics", "Bearer s3cret-admin").status, 200);
  // A kubelet sends no token.
  EXPECT_EQ(http_get(server_.port(), "/livez").status, 200);
  EXPECT_NE(http_get(server_.port(), "/readyz").status, 401);
  // A reload that drops it opens the routes again.
  on_loop([this] { server_.set_auth(std::nullopt); });
  EXPECT_EQ(http_get(server_.port(), "/metrics").status, 200);
}

TEST_F(AdminServerTest, StopClosesOpenConnections) {
  testing::HttpConnection connection(server_.port());
  EXPECT_EQ(connection.request("GET", "/livez").status, 200);
  on_loop([this] { server_.stop(); });
  EXPECT_EQ(connection.request("GET", "/livez").status, 0);
  EXPECT_EQ(http_get(server_.port(), "/livez").status, 0) << "no longer accepting";
}

TEST(AdminServer, PortInUseIsAStartUpErrorNamingTheAddress) {
  boost::asio::io_context io;
  Metrics metrics(triggers_named({"jobs"}), "9.9.9");
  Health health(metrics);
  ConfigStatus config_status;
  AdminServer first(io, metrics, health, config_status);
  first.start({"127.0.0.1", 0});
  AdminServer second(io, metrics, health, config_status);
  const std::string address = "127.0.0.1:" + std::to_string(first.port());
  try {
    second.start({"127.0.0.1", first.port()});
    FAIL() << "a second server bound " << address;
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("server.admin_listen " + address));
    EXPECT_THAT(e.what(), HasSubstr("in use"));
  }
}

}  // namespace
}  // namespace triggerd
