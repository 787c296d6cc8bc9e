#include "connectors/redis/redis_cron_lock.hpp"

namespace triggerd::redis {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {
constexpr auto kTimeout = 2s;
// Long enough to outlast any clock skew between replicas; the key names one tick only.
constexpr auto kHold = std::chrono::milliseconds(10min);
}  // namespace

CronLock::CronLock(asio::any_io_executor executor, const config::RedisConnection& spec)
    : connection_(executor, spec) {}

asio::awaitable<CronLock::Result> CronLock::acquire(const std::string& tick_id,
                                                    std::string* error) {
  const bool connected = co_await connection_.ensure();  // not in an if: g++ 12
  if (!connected) {
    *error = connection_.client().last_error();
    co_return Result::kUnreachable;
  }
  const Reply reply = co_await connection_.client().command(
      args("SET", key(tick_id), "1", "NX", "PX", std::to_string(kHold.count())), kTimeout);
  if (reply.type == Reply::Type::kStatus) co_return Result::kAcquired;
  if (reply.nil()) co_return Result::kTaken;
  *error = reply.describe();
  co_return Result::kFailed;
}

}  // namespace triggerd::redis
