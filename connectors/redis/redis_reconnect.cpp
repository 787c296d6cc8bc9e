#include "connectors/redis/redis_reconnect.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/metrics.hpp"
#include "connectors/redis/redis_client.hpp"

namespace triggerd::redis {

namespace asio = boost::asio;

ReaderReconnect::ReaderReconnect(RedisClient& client, TriggerState& state, std::string trigger,
                                 std::string connection, std::string address,
                                 std::shared_ptr<spdlog::logger> log)
    : client_(client),
      state_(state),
      trigger_(std::move(trigger)),
      connection_(std::move(connection)),
      address_(std::move(address)),
      log_(std::move(log)) {}

void ReaderReconnect::lost() {
  state_.set_source_up(false);
  if (!was_up_) return;
  log_->warn("trigger {}: lost redis connection {} ({}); reconnecting", trigger_, connection_,
             client_.last_error());
  was_up_ = false;
}

asio::awaitable<void> ReaderReconnect::failed(asio::steady_timer& timer, bool stopped) {
  if (stopped) co_return;
  state_.count_source_error(SourceError::kConnect);
  ++failures_;
  // The first failure, then every 20th: a long outage does not flood the log.
  if (failures_ == 1 || failures_ % 20 == 0) {
    log_->warn("trigger {}: cannot connect to redis {} at {} ({}); retrying (attempt {})", trigger_,
               connection_, address_, client_.last_error(), failures_);
  }
  timer.expires_after(reconnect_delay(failures_));
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

void ReaderReconnect::connected() {
  failures_ = 0;
  was_up_ = true;
  state_.set_source_up(true);
}

}  // namespace triggerd::redis
