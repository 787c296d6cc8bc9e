// The triggerd command line as a user meets it (README.md), run as a real process.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/process.hpp"
#include "tests/support/temp_file.hpp"
#include "tests/support/triggerd_process.hpp"

namespace triggerd::testing {
namespace {

using ::testing::HasSubstr;

constexpr const char* kGoodConfig = R"(server:
  listen: 127.0.0.1:0
  admin_listen: 127.0.0.1:0
functions:
  fn:
    url: http://127.0.0.1:9/fn
triggers:
  hook:
    function: fn
    source: {type: http, path: /hooks/a}
    delivery:
      dead_letter: {type: http, url: "http://127.0.0.1:9/dlq"}
  tick:
    function: fn
    source: {type: cron, schedule: "@every 10s"}
)";

// Five different mistakes, one per marked line.
constexpr const char* kFiveMistakes = R"(servr:                          # 1: unknown key
  listen: 127.0.0.1:8080
functions:
  fn:
    url: http://127.0.0.1:9/fn
    timeout: 30                   # 2: a duration without a unit
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    delivery:
      retries: -1                 # 3: negative retries
      backoff: {policy: sometimes}  # 4: unknown policy
    scaling:
      max_replicas: lots          # 5: not a number
)";

// A mistake deep in a trigger's filters: a numeric bound that is a string.
constexpr const char* kBadFilter = R"(functions:
  fn:
    url: http://127.0.0.1:9/fn
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters:
      - exact: {type: com.example.created}
      - data:
          amount: {numeric: [">=", "100"]}
)";

RunResult triggerd(const std::vector<std::string>& args, const ProcessOptions& options = {}) {
  return run_process(triggerd_binary(), args, options);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::string::size_type start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

bool all_digits(std::string_view text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
}

// FILE:LINE:COL: error: PATH: MESSAGE
bool is_error_line(std::string_view line, std::string_view file) {
  if (!line.starts_with(file) || line.substr(file.size(), 1) != ":") return false;
  line.remove_prefix(file.size() + 1);
  const auto line_end = line.find(':');
  if (line_end == std::string_view::npos || !all_digits(line.substr(0, line_end))) return false;
  line.remove_prefix(line_end + 1);
  const auto column_end = line.find(':');
  if (column_end == std::string_view::npos || !all_digits(line.substr(0, column_end))) {
    return false;
  }
  line.remove_prefix(column_end + 1);
  return line.starts_with(" error: ") && line.size() > 8;
}

TEST(Cli, VersionPrintsNameAndVersion) {
  const RunResult result = triggerd({"version"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.out, "triggerd " TRIGGERD_VERSION "\n");
  EXPECT_EQ(result.err, "");
}

TEST(Cli, HelpPrintsUsageAndSucceeds) {
  for (const char* flag : {"--help", "-h"}) {
    const RunResult result = triggerd({flag});
    EXPECT_EQ(result.exit_code, 0) << flag;
    EXPECT_THAT(result.out, HasSubstr("triggerd validate  -c FILE")) << flag;
  }
}

TEST(Cli, ValidateAcceptsAGoodFileAndCountsTriggers) {
  const TempFile config(kGoodConfig);
  const RunResult result = triggerd({"validate", "-c", config.path()});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, config.path() + ": ok (2 triggers)\n");
  // The trigger without a dead letter is valid, but warned about.
  EXPECT_THAT(result.err, HasSubstr(": warning: triggers.tick: no delivery.dead_letter"));
  EXPECT_THAT(result.err, ::testing::Not(HasSubstr("error")));
}

TEST(Cli, ValidateTakesTheLongConfigOption) {
  const TempFile config(kGoodConfig);
  EXPECT_EQ(triggerd({"validate", "--config", config.path()}).exit_code, 0);
  EXPECT_EQ(triggerd({"validate", "--config=" + config.path()}).exit_code, 0);
}

TEST(Cli, ValidateReportsEveryMistakeOneALine) {
  const TempFile config(kFiveMistakes);
  const RunResult result = triggerd({"validate", "-c", config.path()});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.out, "");
  std::vector<std::string> errors;
  for (const std::string& line : lines_of(result.err)) {
    if (is_error_line(line, config.path())) errors.push_back(line);
  }
  EXPECT_EQ(errors.size(), 5u) << result.err;
  // Each mistake is reported at its own line of the file, in file order.
  std::vector<int> lines;
  for (const std::string& error : errors) {
    lines.push_back(std::stoi(error.substr(config.path().size() + 1)));
  }
  EXPECT_THAT(lines, ::testing::ElementsAre(1, 6, 12, 13, 15)) << result.err;
}

TEST(Cli, ValidateAndRunReportAFilterMistakeAtItsLineAndColumn) {
  const TempFile config(kBadFilter);
  const std::string error = config.path() +
                            ":11:36: error: triggers.orders.filters[1].data.amount.numeric[1]: "
                            "must be a number";
  const RunResult validate = triggerd({"validate", "-c", config.path()});
  EXPECT_EQ(validate.exit_code, 2);
  EXPECT_EQ(validate.out, "");
  EXPECT_THAT(lines_of(validate.err), ::testing::Contains(error)) << validate.err;
  // run refuses the file with the same words, before it starts anything.
  const RunResult run = triggerd({"run", "-c", config.path()});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(lines_of(run.err), ::testing::Contains(error)) << run.err;
  EXPECT_THAT(run.err, ::testing::Not(HasSubstr("admin API on")));
}

TEST(Cli, ValidateWithoutAFileIsAUsageError) {
  const RunResult result = triggerd({"validate"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("validate needs -c FILE"));
  EXPECT_THAT(result.err, HasSubstr("usage:"));
  EXPECT_EQ(result.out, "");
}

TEST(Cli, ValidateOfAMissingFileFails) {
  const RunResult result = triggerd({"validate", "-c", "/nonexistent/triggerd.yaml"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("/nonexistent/triggerd.yaml"));
}

TEST(Cli, RunNeverStartsOnAnInvalidConfig) {
  const TempFile config(kFiveMistakes);
  const RunResult result = triggerd({"run", "-c", config.path()});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr(config.path() + ":12:"));
  EXPECT_THAT(result.err, ::testing::Not(HasSubstr("admin API on")));
}

TEST(Cli, RunReadsTheConfigNamedByTheEnvironment) {
  const TempFile config(kFiveMistakes);
  const RunResult result = triggerd({"run"}, {.env = {{"TRIGGERD_CONFIG", config.path()}}});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr(config.path() + ":1:1: error: servr"));
}

TEST(Cli, RunDefaultsToTriggerdYamlInTheWorkingDirectory) {
  const RunResult result =
      triggerd({"run"}, {.unset_env = {"TRIGGERD_CONFIG"}, .working_dir = "/"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("./triggerd.yaml"));
}

TEST(Cli, RunFailsClearlyWhenTheAdminPortIsTaken) {
  const TempFile first_config(kGoodConfig);
  TriggerdProcess first(first_config.path());
  std::string taken = kGoodConfig;
  taken.replace(taken.find("admin_listen: 127.0.0.1:0"), 25,
                "admin_listen: 127.0.0.1:" + std::to_string(first.admin_port()));
  const TempFile second_config(taken);
  const RunResult second = triggerd({"run", "-c", second_config.path()});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_THAT(second.err, HasSubstr("127.0.0.1:" + std::to_string(first.admin_port())));
  EXPECT_THAT(second.err, HasSubstr("in use"));
}

TEST(Cli, UnknownCommandIsAUsageError) {
  const RunResult result = triggerd({"frobnicate"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("unknown command 'frobnicate'"));
  EXPECT_THAT(result.err, HasSubstr("usage:"));
}

TEST(Cli, NoCommandOrUnknownOptionIsAUsageError) {
  EXPECT_EQ(triggerd({}).exit_code, 2);
  const RunResult result = triggerd({"run", "--verbose"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("unknown option '--verbose'"));
}

}  // namespace
}  // namespace triggerd::testing
