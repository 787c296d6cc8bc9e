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
  EXPECT_FALSE(changes.triggers());
  EXPECT_FALSE(changes.server || changes.connections || changes.functions || changes.log);
  EXPECT_EQ(changes.describe_unapplied(), "");
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
  EXPECT_EQ(changes.describe_unapplied(),
            "triggers added: list; triggers removed: hook; triggers changed: tick");
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
  loaded.triggers[1].scaling.max_replicas = 7;
  EXPECT_THAT(diff_config(base(), loaded).triggers_changed, ElementsAre("tick"));

  loaded = base();
  loaded.triggers[1].source = config::KafkaSource{};
  EXPECT_THAT(diff_config(base(), loaded).triggers_changed, ElementsAre("tick"));
}

TEST(DiffConfig, ReportsOtherSectionsByNameOnlyNeverByValue) {
  config::Config loaded = base();
  std::get<config::RedisConnection>(loaded.connections[0].spec).password =
      config::Secret("hunter2");
  loaded.server.admin_listen.port = 9999;
  loaded.functions[0].timeout = std::chrono::seconds(3);
  loaded.log.level = config::LogLevel::debug;

  const ConfigChanges changes = diff_config(base(), loaded);
  EXPECT_THAT(changes.triggers_changed, IsEmpty());
  EXPECT_TRUE(changes.server);
  EXPECT_TRUE(changes.connections);
  EXPECT_TRUE(changes.functions);
  EXPECT_TRUE(changes.log);
  EXPECT_EQ(changes.describe_unapplied(), "server; connections; functions");
}

}  // namespace
}  // namespace triggerd
