#pragma once
// Dead letters of type redis-stream (XADD of the data and the failure fields) and redis-list
// (LPUSH of a JSON envelope), SPEC section 2. write() is ok only once Redis has the entry, so
// the source acknowledges only after that. A lost connection or a server that cannot write
// right now is a temporary failure; an error reply that the same command would get again
// (WRONGTYPE, NOPERM, ...) a permanent one.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "connectors/redis/redis_client.hpp"
#include "core/dead_letter_sink.hpp"

namespace triggerd::redis {

// What an error reply of Redis to a dead-letter write means: temporary for the states a server
// passes through (LOADING, BUSY, TRYAGAIN, MASTERDOWN, CLUSTERDOWN, READONLY after a failover,
// OOM, MISCONF, NOREPLICAS), permanent for every other error (WRONGTYPE, NOPERM, NOAUTH, ERR ...).
DeadLetterResult redis_error_result(std::string_view error);

// One connection shared by the concurrent writes of a sink: connects on first use and again
// after a failure, one connect at a time.
class SharedRedisConnection {
 public:
  SharedRedisConnection(boost::asio::any_io_executor executor, const config::RedisConnection& spec);
  // True once connected; false if connecting failed (or another coroutine's connect did).
  boost::asio::awaitable<bool> ensure();
  RedisClient& client() { return client_; }

 private:
  RedisClient client_;
  boost::asio::steady_timer wait_;
  bool connecting_ = false;
};

class RedisStreamDeadLetterSink final : public DeadLetterSink {
 public:
  RedisStreamDeadLetterSink(boost::asio::any_io_executor executor,
                            const config::RedisStreamDeadLetter& spec,
                            const config::RedisConnection& connection);
  boost::asio::awaitable<DeadLetterResult> write(const Event& event,
                                                 const DeadLetterInfo& info) override;
  void stop() override { connection_.client().close(); }

 private:
  std::string stream_;
  SharedRedisConnection connection_;
};

class RedisListDeadLetterSink final : public DeadLetterSink {
 public:
  RedisListDeadLetterSink(boost::asio::any_io_executor executor,
                          const config::RedisListDeadLetter& spec,
                          const config::RedisConnection& connection);
  boost::asio::awaitable<DeadLetterResult> write(const Event& event,
                                                 const DeadLetterInfo& info) override;
  void stop() override { connection_.client().close(); }

  // The JSON envelope pushed to the list.
  static std::string envelope(const Event& event, const DeadLetterInfo& info);

 private:
  std::string list_;
  SharedRedisConnection connection_;
};

}  // namespace triggerd::redis
