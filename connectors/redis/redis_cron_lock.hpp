#pragma once
// The `lock:` of a cron trigger: SET KEY NX PX per trigger and scheduled time, so that of N
// replicas exactly one fires each tick (SPEC section 2).
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <string>

#include "config/config.hpp"
#include "connectors/redis/redis_dead_letter.hpp"

namespace triggerd::redis {

class CronLock {
 public:
  // kUnreachable: no connection to Redis; kFailed: the command failed.
  enum class Result { kAcquired, kTaken, kUnreachable, kFailed };

  CronLock(boost::asio::any_io_executor executor, const config::RedisConnection& spec);

  // Takes the lock of one tick (its event id, the same on every replica). kUnreachable or
  // kFailed when Redis could not say: the caller skips the tick rather than risk firing it
  // twice.
  boost::asio::awaitable<Result> acquire(const std::string& tick_id, std::string* error);
  void close() { connection_.client().close(); }

  static std::string key(const std::string& tick_id) { return "triggerd:cron-lock:" + tick_id; }

 private:
  SharedRedisConnection connection_;
};

}  // namespace triggerd::redis
