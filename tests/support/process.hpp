#pragma once
// Runs a program (the real triggerd binary, promtool) as a child process for a test: output
// captured to files, waited for with a timeout, signalled, and killed if the test leaves it
// running, even when the test process itself dies (PR_SET_PDEATHSIG).
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/temp_file.hpp"

namespace triggerd::testing {

struct ProcessOptions {
  // Set in the child's environment on top of the parent's (an empty value sets it empty).
  std::vector<std::pair<std::string, std::string>> env;
  // Removed from the child's environment.
  std::vector<std::string> unset_env;
  std::optional<std::string> stdin_file;  // default: /dev/null
  std::optional<std::string> working_dir;
};

class ChildProcess {
 public:
  // Starts `program` (a path, or a name looked up in PATH) with `args`. Throws if it cannot.
  ChildProcess(const std::string& program, const std::vector<std::string>& args,
               const ProcessOptions& options = {});
  // Kills the child with SIGKILL if it still runs, and reaps it.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void send_signal(int signal) const;

  // The exit code (128 + N when killed by signal N), or nothing if it still runs after
  // `timeout`.
  std::optional<int> wait_for_exit(std::chrono::milliseconds timeout);
  bool running();

  // Everything the child has written so far.
  std::string out() const { return stdout_.read(); }
  std::string err() const { return stderr_.read(); }

 private:
  TempFile stdout_{"", ".out"};
  TempFile stderr_{"", ".err"};
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

struct RunResult {
  std::optional<int> exit_code;  // nothing: timed out (and killed)
  std::string out;
  std::string err;
};

// Runs a program to the end (or kills it after `timeout`) and returns what it printed.
RunResult run_process(const std::string& program, const std::vector<std::string>& args,
                      const ProcessOptions& options = {},
                      std::chrono::milliseconds timeout = std::chrono::seconds(20));

// The full path of `name` in PATH, or nothing.
std::optional<std::string> find_in_path(const std::string& name);

// Polls `condition` every 20 ms until it holds or `timeout` passes; returns its last value.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

}  // namespace triggerd::testing
