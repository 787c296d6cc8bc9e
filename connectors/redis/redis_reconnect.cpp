#include "connectors/redis/redis_reconnect.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "connectors/redis/redis_client.hpp"
#include "core/metrics.hpp"

namespace triggerd::redis {

namespace asio = boost::asio;

ReaderReconnect::ReaderReconnect(RedisClient& client, const SourceContext& context)
    : client_(client), context_(context) {}

void ReaderReconnect::lost() {
  context_.state.set_source_up(false);
  if (!was_up_) return;
  context_.log->warn("trigger {}: lost redis connection {} ({}); reconnecting", context_.trigger,
                     context_.connection, client_.last_error());
  was_up_ = false;
}

asio::awaitable<void> ReaderReconnect::failed(asio::steady_timer& timer, bool stopped) {
  if (stopped) co_return;
  context_.state.count_source_error(SourceError::kConnect);
  ++failures_;
  // The first failure, then every 20th: a long outage does not flood the log.
  if (failures_ == 1 || failures_ % 20 == 0) {
    context_.log->warn("trigger {}: cannot connect to redis {} at {} ({}); retrying (attempt {})",
                       context_.trigger, context_.connection, context_.address,
                       client_.last_error(), failures_);
  }
  timer.expires_after(reconnect_delay(failures_));
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

void ReaderReconnect::connected() {
  failures_ = 0;
  was_up_ = true;
  context_.state.set_source_up(true);
}

}  // namespace triggerd::redis
