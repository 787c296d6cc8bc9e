#include "broker/config_diff.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace triggerd {
namespace {

using testing::ElementsAre;
using testing::IsEmpty;

config::Trigger trigger(const std::string& name, config::SourceSpec source) {
  config::Trigger t;
  t.name = name;
  t.function = "fn";
  t.source = std::move(source);
  return t;
}

config::Config base() {
  config::Config config;
  config.file = "t.yaml";
  config::Function fn;
  fn.name = "fn";
  config.functions = {fn};
  config.connections = {{"redis", config::RedisConnection{}}};
  config.triggers = {trigger("hook", config::HttpSource{.path = "/a"}),
                     trigger("tick", config::CronSource{.schedule = "@hourly"})};
  return config;
}

TEST(DiffConfig, SameConfigHasNoChanges) {
  const ConfigChanges changes = diff_config(base(), base());
  EXPECT_TRUE(changes.empty());
  EXPECT_THAT(changes.describe(), IsEmpty());
}

TEST(DiffConfig, NamesAddedRemovedAndChangedTriggers) {
  config::Config loaded = base();
  loaded.triggers.erase(loaded.triggers.begin());  // hook removed
  std::get<config::CronSource>(loaded.triggers[0].source).schedule = "@daily";
  loaded.triggers.push_back(trigger("list", config::RedisListSource{"redis", "jobs"}));

  const ConfigChanges changes = diff_config(base(), loaded);
  EXPECT_THAT(changes.triggers_added, ElementsAre("list"));
  EXPECT_THAT(changes.triggers_removed, ElementsAre("hook"));
  EXPECT_THAT(changes.triggers_changed, ElementsAre("tick"));
  EXPECT_THAT(changes.describe(),
              ElementsAre("trigger list added: starting",
                          "trigger tick changed: draining the running version, then starting "
                          "the new one",
                          "trigger hook removed: draining it, then closing its source"));
}

TEST(DiffConfig, SeesChangesDeepInsideATrigger) {
  config::Config loaded = base();
  loaded.triggers[0].delivery.dead_letter = config::HttpDeadLetter{};
  EXPECT_THAT(diff_config(base(), loaded).triggers_changed, ElementsAre("hook"));

  loaded = base();
  std::get<config::HttpSource>(loaded.triggers[0].source).auth =
      config::BearerAuth{config::Secret("new-token")};
  EXPECT_THAT(diff_config(base(), loaded).triggers_changed, ElementsAre("hook"));

  loaded = base();
  loaded.triggers[1].delivery.ordering = config::Ordering::key;
  EXPECT_THAT(diff_config(base(), loaded).triggers_changed, ElementsAre("tick"));

  loaded = base();
  loaded.triggers[1].source = config::KafkaSource{};
  EXPECT_THAT(diff_config(base(), loaded).triggers_changed, ElementsAre("tick"));
}

TEST(DiffConfig, ABatchSwitchedOnOffOrResizedRestartsTheTrigger) {
  config::Config running = base();
  config::Config loaded = running;
  loaded.triggers[0].delivery.batch.emplace();
  EXPECT_THAT(diff_config(running, loaded).triggers_changed, ElementsAre("hook"));
  EXPECT_THAT(diff_config(loaded, running).triggers_changed, ElementsAre("hook"));

  running = loaded;
  loaded.triggers[0].delivery.batch->max_wait = std::chrono::seconds(1);
  EXPECT_THAT(diff_config(running, loaded).triggers_changed, ElementsAre("hook"));
  EXPECT_THAT(diff_config(running, loaded).triggers_rebound, IsEmpty());
}

TEST(DiffConfig, FiltersChangeWithoutARestart) {
  config::Config loaded = base();
  config::Filter exact{.dialect = config::Filter::Dialect::exact,
                       .attributes = {{"type", "com.example.created"}}};
  loaded.triggers[0].filters = {exact};
  ConfigChanges changes = diff_config(base(), loaded);
  EXPECT_THAT(changes.triggers_rebound, ElementsAre("hook"));
  EXPECT_THAT(changes.triggers_changed, IsEmpty());

  // A change deep inside a nested filter is a change too.
  config::Config running = loaded;
  running.triggers[0].filters = {config::Filter{.dialect = config::Filter::Dialect::negation,
                                                .filters = {exact}}};
  loaded = running;
  loaded.triggers[0].filters[0].filters[0].attributes[0].value = "com.example.deleted";
  EXPECT_THAT(diff_config(running, loaded).triggers_rebound, ElementsAre("hook"));
}

TEST(DiffConfig, ChangesItsSourceDoesNotReadAreAppliedWithoutARestart) {
  config::Config loaded = base();
  loaded.triggers[0].function = "other";
  loaded.triggers[0].delivery.retries = 9;
  loaded.triggers[0].delivery.backoff.delay = std::chrono::seconds(1);
  loaded.triggers[1].scaling.max_replicas = 7;
  loaded.triggers[1].delivery.max_inflight = 7;
  const ConfigChanges changes = diff_config(base(), loaded);
  EXPECT_THAT(changes.triggers_rebound, ElementsAre("hook", "tick"));
  EXPECT_THAT(changes.triggers_changed, IsEmpty());
  EXPECT_THAT(changes.describe(),
              ElementsAre("trigger hook changed: events taken from now on use the new settings; "
                          "its source is not touched",
                          "trigger tick changed: events taken from now on use the new settings; "
                          "its source is not touched"));
}

TEST(DiffConfig, ATriggerWhoseConnectionChangedIsChangedAndOthersAreNot) {
  config::Config running = base();
  running.triggers.push_back(trigger("list", config::RedisListSource{"redis", "jobs"}));
  std::get<config::CronSource>(running.triggers[1].source).lock = "redis";
  config::Config loaded = running;
  std::get<config::RedisConnection>(loaded.connections[0].spec).password =
      config::Secret("hunter2");
  EXPECT_THAT(diff_config(running, loaded).triggers_changed, ElementsAre("tick", "list"))
      << "the cron lock and the list source use the connection; the webhook does not";

  loaded = running;
  running.triggers[0].delivery.dead_letter = config::RedisListDeadLetter{"redis", "dead"};
  loaded.triggers[0].delivery.dead_letter = config::RedisListDeadLetter{"redis", "dead"};
  std::get<config::RedisConnection>(loaded.connections[0].spec).password =
      config::Secret("hunter2");
  EXPECT_THAT(diff_config(running, loaded).triggers_changed, ElementsAre("hook", "tick", "list"));
}

TEST(DiffConfig, NamesFunctionsAndServerKeysNeverValues) {
  config::Config loaded = base();
  loaded.server.admin_listen.port = 9999;
  loaded.server.shutdown_timeout = std::chrono::seconds(3);  // applies: read at the stop
  loaded.functions[0].timeout = std::chrono::seconds(3);
  config::Function other;
  other.name = "other";
  loaded.functions.push_back(other);
  loaded.log.level = config::LogLevel::debug;

  const ConfigChanges changes = diff_config(base(), loaded);
  EXPECT_THAT(changes.triggers_changed, IsEmpty()) << "a function's settings restart nothing";
  EXPECT_THAT(changes.functions_changed, ElementsAre("fn"));
  EXPECT_THAT(changes.functions_added, ElementsAre("other"));
  EXPECT_THAT(changes.server_needs_restart, ElementsAre("server.admin_listen"));
  EXPECT_TRUE(changes.log);
  EXPECT_THAT(changes.describe(),
              ElementsAre("function other added",
                          "function fn changed: attempts from now on use the new settings, "
                          "those under way finish on the old ones",
                          "log settings applied"));
}

TEST(DiffConfig, AnAdminTokenChangeIsAppliedAtOnceAndNeverShown) {
  config::Config with_token = base();
  with_token.server.admin_auth = config::BearerAuth{config::Secret("tok-1")};
  config::Config rotated = base();
  rotated.server.admin_auth = config::BearerAuth{config::Secret("tok-2")};
  for (const auto& [running, loaded] : {std::pair{base(), with_token},
                                        std::pair{with_token, rotated},
                                        std::pair{with_token, base()}}) {
    const ConfigChanges changes = diff_config(running, loaded);
    EXPECT_TRUE(changes.admin_auth);
    EXPECT_FALSE(changes.empty());
    EXPECT_THAT(changes.server_needs_restart, IsEmpty());
    EXPECT_THAT(changes.describe(),
                ElementsAre("server.admin_auth applied: the admin API checks it from now on"));
  }
  EXPECT_FALSE(diff_config(with_token, with_token).admin_auth);
}

}  // namespace
}  // namespace triggerd
