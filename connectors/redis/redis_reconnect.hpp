#pragma once
// The reading connection of a Redis source, kept up: both sources (redis-stream, redis-list)
// mark themselves down while it is lost, log the loss once and failed attempts now and then,
// and wait reconnect_delay() between attempts. What a source does on a fresh connection
// (create its group, return its processing list) is its `connect` step.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "connectors/redis/redis_source_context.hpp"

namespace triggerd::redis {

class RedisClient;

class ReaderReconnect {
 public:
  // `client` and `context` must outlive this object.
  ReaderReconnect(RedisClient& client, const SourceContext& context);

  // For a source whose client is not connected, around its own connect step:
  //   reconnect.lost();  if (!co_await connect()) { co_await reconnect.failed(...); continue; }
  //   reconnect.connected();
  // lost() marks the source down and logs a connection that was up; failed() counts the
  // failure (triggerd_source_errors_total{kind="connect"}), logs the first and every 20th and
  // waits the backoff delay (not once `stopped`); connected() marks the source up.
  void lost();
  boost::asio::awaitable<void> failed(boost::asio::steady_timer& timer, bool stopped);
  void connected();

 private:
  RedisClient& client_;
  const SourceContext& context_;
  int failures_ = 0;
  bool was_up_ = false;
};

}  // namespace triggerd::redis
