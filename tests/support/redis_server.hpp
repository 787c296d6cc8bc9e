#pragma once
// A real redis-server for a test: started on a free loopback port in its own temp directory,
// waited for until it answers PING, and killed (its directory removed) when the test ends.
// Plus a small blocking client (hiredis, synchronous) for the test's own commands.
#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/process.hpp"

namespace triggerd::testing {

struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

// A blocking connection for test code (never for triggerd's own).
class RedisTestClient {
 public:
  // Throws std::runtime_error when the server does not answer.
  explicit RedisTestClient(std::uint16_t port, const std::string& host = "127.0.0.1");
  ~RedisTestClient();
  RedisTestClient(const RedisTestClient&) = delete;
  RedisTestClient& operator=(const RedisTestClient&) = delete;

  // Throws std::runtime_error on a connection failure; a Redis error reply is returned.
  ReplyPtr command(const std::vector<std::string>& args);
  // Sends all, then reads all replies: fast for filling a stream or a list.
  void pipeline(const std::vector<std::vector<std::string>>& commands);
  long long integer(const std::vector<std::string>& args);  // throws unless an integer reply
  std::string text(const std::vector<std::string>& args);   // string/status; "" for nil

 private:
  redisContext* context_ = nullptr;
};

struct RedisServerOptions {
  bool appendonly = false;  // for tests that restart the server and expect their data back
  // A loopback address: 127.0.0.2 gives a second server that a host name can be moved to.
  std::string bind = "127.0.0.1";
  std::uint16_t port = 0;  // 0: a free one
};

class RedisServer {
 public:
  // Throws std::runtime_error (with what redis-server printed) if it does not answer in 10 s.
  explicit RedisServer(RedisServerOptions options = {});
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::uint16_t port() const { return port_; }
  const std::string& host() const { return options_.bind; }
  std::string address() const { return options_.bind + ":" + std::to_string(port_); }

  // SIGTERM (redis-server writes its append-only file and exits) and wait.
  void stop();
  // Starts again on the same port and directory; waits for PING.
  void start();
  bool running() const { return process_ != nullptr; }
  // SIGSTOP / SIGCONT: a server that keeps its connections open but answers nothing, as one
  // behind a dead network path would (the client's only way out is its own timeout).
  void pause();
  void resume();

 private:
  RedisServerOptions options_;
  std::string dir_;
  std::uint16_t port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace triggerd::testing
