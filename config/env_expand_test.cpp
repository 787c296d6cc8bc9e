#include "config/env_expand.hpp"

#include <gtest/gtest.h>

#include <map>

namespace triggerd::config {
namespace {

EnvLookup fake_env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(EnvExpand, ReplacesVariablesAndDefaults) {
  auto env = fake_env({{"HOST", "db"}, {"EMPTY", ""}});
  EXPECT_EQ(expand_env("${HOST}:5432", env).value, "db:5432");
  EXPECT_EQ(expand_env("${PORT:-6379}", env).value, "6379");
  EXPECT_EQ(expand_env("${HOST:-x}", env).value, "db");
  EXPECT_EQ(expand_env("[${EMPTY}]", env).value, "[]");
  EXPECT_EQ(expand_env("${EMPTY:-fallback}", env).value, "fallback");
  EXPECT_EQ(expand_env("${PORT:-}", env).value, "");
}

TEST(EnvExpand, KeepsLiteralDollars) {
  auto env = fake_env({});
  EXPECT_EQ(expand_env("$${HOST}", env).value, "${HOST}");
  EXPECT_EQ(expand_env("cost: $5", env).value, "cost: $5");
  EXPECT_EQ(expand_env("$$", env).value, "$$");
}

TEST(EnvExpand, UnsetVariableWithoutDefaultIsAnError) {
  auto result = expand_env("a${MISSING}b", fake_env({}));
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.error,
            "environment variable MISSING is not set (write ${MISSING:-default} to give a default)");
}

TEST(EnvExpand, MalformedReferencesAreErrors) {
  EXPECT_FALSE(expand_env("${UNCLOSED", fake_env({})).ok());
  EXPECT_FALSE(expand_env("${9LIVES}", fake_env({})).ok());
  EXPECT_FALSE(expand_env("${}", fake_env({})).ok());
}

TEST(EnvExpand, ErrorsNeverContainValues) {
  auto result = expand_env("${SECRET}${BAD NAME}", fake_env({{"SECRET", "hunter2"}}));
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.error.find("hunter2"), std::string::npos);
}

}  // namespace
}  // namespace triggerd::config
