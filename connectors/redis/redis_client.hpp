#pragma once
// One Redis connection driven by hiredis's async API on the io_context: hiredis's event hooks
// (addRead/delRead/addWrite/delWrite/cleanup) become async_wait calls on a
// posix::stream_descriptor of its socket, so no thread is ever blocked and every callback runs
// on the io_context thread. Commands are coroutines that return a copy of the reply; failures
// (refused, reset, timeout) come back as values, never as exceptions.
//
// A connection that failed once stays failed: the owner makes a new RedisClient (reconnect
// with backoff is the sources' business, so that each can tell its trigger's source_up).
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"

struct redisReply;  // hiredis's

namespace triggerd::redis {

// A reply, copied out of hiredis (whose reply objects live only during the callback).
struct Reply {
  enum class Type { kString, kArray, kInteger, kNil, kStatus, kError, kFailed };
  Type type = Type::kNil;
  std::string str;  // string, status, error; for kFailed what went wrong with the connection
  long long integer = 0;
  std::vector<Reply> elements;

  // The command could not run or returned an error: the caller decides what that means.
  bool failed() const { return type == Type::kFailed; }
  bool error() const { return type == Type::kError || type == Type::kFailed; }
  bool nil() const { return type == Type::kNil; }
  std::string describe() const;  // for logs: the error text or the type
};

// A copy of hiredis's `reply` and everything under it (a type it does not know comes out as
// kNil). Public for the reply fuzz target, which gets its replies from hiredis's reader.
Reply copy_reply(const redisReply& reply);

class RedisClient {
 public:
  RedisClient(boost::asio::any_io_executor executor, const config::RedisConnection& spec);
  ~RedisClient();  // close()
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Connects, then AUTH (when there is a password) and SELECT (when db is not 0). False with
  // last_error() set on any failure; the client is then closed. A host name is looked up
  // afresh on every connect, off the event loop, and its addresses are tried in turn; all of
  // it within `timeout`. close() ends a connect under way.
  boost::asio::awaitable<bool> connect(std::chrono::milliseconds timeout);

  // Sends one command. A reply that does not come within `timeout` closes the connection (the
  // reply stream could no longer be matched to commands) and returns kFailed.
  boost::asio::awaitable<Reply> command(std::vector<std::string> args,
                                        std::chrono::milliseconds timeout);

  // Sends several commands at once (one write, one round trip) and returns their replies in
  // order. Every reply is kFailed when the connection fails.
  boost::asio::awaitable<std::vector<Reply>> pipeline(std::vector<std::vector<std::string>> cmds,
                                                      std::chrono::milliseconds timeout);

  bool connected() const;
  const std::string& last_error() const;
  // Drops the connection at once; commands waiting for a reply complete with kFailed.
  void close();

 private:
  struct State;
  // One attempt at one numeric address, on a fresh state_.
  boost::asio::awaitable<bool> connect_to(const std::string& address,
                                          std::chrono::milliseconds timeout);

  std::shared_ptr<State> state_;
  config::RedisConnection spec_;  // a copy: a dead letter outlives the Config it came from
};

// A command's arguments. Built outside the coroutine that sends them: g++ 12 miscompiles
// braced lists of string literals inside a co_await expression ("array used as initializer").
template <typename... Parts>
std::vector<std::string> args(Parts&&... parts) {
  return std::vector<std::string>{std::string(std::forward<Parts>(parts))...};
}

// How long a source waits for a connection, and for a command's reply (a blocking read adds
// its own block time); less once it is closing.
inline constexpr std::chrono::seconds kConnectTimeout{5};
inline constexpr std::chrono::seconds kCommandTimeout{5};

// The delay before reconnect attempt `attempt` (1, 2, ...): 100 ms doubling up to 5 s, with
// jitter so that replicas do not hammer a restarted server in step.
std::chrono::milliseconds reconnect_delay(int attempt);

// The default consumer name: the host name (a stable identity across restarts of a pod).
std::string host_name();

}  // namespace triggerd::redis
