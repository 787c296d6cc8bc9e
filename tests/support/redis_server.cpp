#include "tests/support/redis_server.hpp"

#include <sys/time.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "tests/support/free_port.hpp"

namespace triggerd::testing {

RedisTestClient::RedisTestClient(std::uint16_t port, const std::string& host) {
  timeval timeout{10, 0};
  context_ = redisConnectWithTimeout(host.c_str(), port, timeout);
  if (context_ == nullptr || context_->err != 0) {
    std::string error = context_ != nullptr ? context_->errstr : "out of memory";
    if (context_ != nullptr) redisFree(context_);
    context_ = nullptr;
    throw std::runtime_error("redis connect: " + error);
  }
  redisSetTimeout(context_, timeout);
}

RedisTestClient::~RedisTestClient() {
  if (context_ != nullptr) redisFree(context_);
}

namespace {

void append(redisContext* context, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (const auto& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  if (redisAppendCommandArgv(context, static_cast<int>(argv.size()), argv.data(), lengths.data()) !=
      REDIS_OK) {
    throw std::runtime_error(std::string("redis append: ") + context->errstr);
  }
}

ReplyPtr read_reply(redisContext* context) {
  void* reply = nullptr;
  if (redisGetReply(context, &reply) != REDIS_OK || reply == nullptr) {
    throw std::runtime_error(std::string("redis reply: ") + context->errstr);
  }
  return ReplyPtr(static_cast<redisReply*>(reply));
}

}  // namespace

ReplyPtr RedisTestClient::command(const std::vector<std::string>& args) {
  append(context_, args);
  return read_reply(context_);
}

void RedisTestClient::pipeline(const std::vector<std::vector<std::string>>& commands) {
  for (const auto& args : commands) append(context_, args);
  for (std::size_t i = 0; i < commands.size(); ++i) read_reply(context_);
}

long long RedisTestClient::integer(const std::vector<std::string>& args) {
  ReplyPtr reply = command(args);
  if (reply->type != REDIS_REPLY_INTEGER) {
    throw std::runtime_error("redis: not an integer reply to " + args.front() + ": " +
                             (reply->str != nullptr ? reply->str : ""));
  }
  return reply->integer;
}

std::string RedisTestClient::text(const std::vector<std::string>& args) {
  ReplyPtr reply = command(args);
  if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS ||
      reply->type == REDIS_REPLY_ERROR) {
    return std::string(reply->str, reply->len);
  }
  return "";
}

RedisServer::RedisServer(RedisServerOptions options) : options_(options) {
  std::string pattern = (std::filesystem::temp_directory_path() / "triggerd-redis-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = pattern;
  port_ = options_.port != 0 ? options_.port : free_port();
  start();
}

RedisServer::~RedisServer() {
  process_.reset();  // SIGKILL and reap
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void RedisServer::start() {
  process_ = std::make_unique<ChildProcess>(
      "redis-server",
      std::vector<std::string>{"--port", std::to_string(port_), "--bind", options_.bind, "--save",
                               "", "--appendonly", options_.appendonly ? "yes" : "no", "--dir",
                               dir_, "--protected-mode", "no"});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      RedisTestClient client(port_, options_.bind);
      if (client.text({"PING"}) == "PONG") return;
    } catch (const std::runtime_error&) {
      // not listening yet
    }
    if (!process_->running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("redis-server did not start: " + process_->out() + process_->err());
}

void RedisServer::pause() {
  if (process_) process_->send_signal(SIGSTOP);
}

void RedisServer::resume() {
  if (process_) process_->send_signal(SIGCONT);
}

void RedisServer::stop() {
  if (!process_) return;
  process_->send_signal(SIGTERM);
  process_->wait_for_exit(std::chrono::seconds(10));
  process_.reset();
}

}  // namespace triggerd::testing
