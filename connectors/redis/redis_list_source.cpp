#include "connectors/redis/redis_list_source.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "broker/logging.hpp"
#include "broker/metrics.hpp"
#include "connectors/redis/redis_event.hpp"

namespace triggerd::redis {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr auto kConnectTimeout = 5s;
constexpr auto kCommandTimeout = 5s;
// BLMOVE's own timeout, in seconds: short, so that a stop comes soon.
constexpr auto kBlock = 1s;
// Items taken in one round trip at most, when that many slots are free.
constexpr std::size_t kMaxBatch = 100;
constexpr auto kKeeperInterval = 1s;
// A consumer whose heartbeat is older than this is dead: its items go back to the queue.
constexpr auto kHeartbeatTtl = 10s;
// Dead consumers are looked for every this many keeper turns.
constexpr int kRecoveryEvery = 3;
constexpr int kAckAttemptsAfterStop = 10;

}  // namespace

std::string RedisListSource::processing_key(const std::string& list, const std::string& consumer) {
  return list + ":processing:" + consumer;
}
std::string RedisListSource::heartbeat_key(const std::string& list, const std::string& consumer) {
  return list + ":consumer:" + consumer;
}
std::string RedisListSource::consumers_key(const std::string& list) { return list + ":consumers"; }

RedisListSource::RedisListSource(asio::any_io_executor executor, const config::Trigger& trigger,
                                 const config::Connection& connection, TriggerState& state)
    : executor_(executor),
      trigger_name_(trigger.name),
      connection_name_(connection.name),
      address_(std::get<config::RedisConnection>(connection.spec).address.to_string()),
      config_(std::get<config::RedisListSource>(trigger.source)),
      consumer_(host_name()),
      processing_(processing_key(config_.list, consumer_)),
      max_inflight_(static_cast<std::size_t>(std::max(1, trigger.delivery.max_inflight))),
      state_(state),
      log_(logging::get("redis")),
      reader_(executor, std::get<config::RedisConnection>(connection.spec)),
      acker_(executor, std::get<config::RedisConnection>(connection.spec)),
      keeper_(executor, std::get<config::RedisConnection>(connection.spec)),
      sleep_timer_(executor),
      ack_wake_(executor),
      bound_wake_(executor),
      ack_sleep_(executor),
      keeper_timer_(executor),
      reconnect_(reader_, state_, trigger_name_, connection_name_, address_, log_) {}

RedisListSource::~RedisListSource() = default;

std::optional<std::int64_t> RedisListSource::queue_depth() const {
  const std::int64_t depth = depth_.load(std::memory_order_relaxed);
  if (depth < 0) return std::nullopt;
  return depth;
}

asio::awaitable<void> RedisListSource::sleep(asio::steady_timer& timer,
                                             std::chrono::milliseconds delay) {
  timer.expires_after(delay);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

// The drain's two steps are still one here: taking stops, and run() ends at once.
void RedisListSource::close(std::chrono::steady_clock::time_point /*deadline*/) {}

void RedisListSource::stop_taking() {
  stopped_ = true;
  // Ends a waiting BLMOVE at once. An item it moved just then stays in our processing list
  // and goes back to the queue at our next start (or when a live consumer sees us dead).
  reader_.close();
  sleep_timer_.cancel();
  keeper_timer_.cancel();
  ack_wake_.cancel();
  bound_wake_.cancel();
}

asio::awaitable<bool> RedisListSource::return_items(RedisClient& client,
                                                    const std::string& processing) {
  std::size_t moved = 0;
  while (true) {
    Reply reply = co_await client.command(args("LMOVE", processing, config_.list, "LEFT", "RIGHT"),
                                          kCommandTimeout);
    if (reply.error()) {
      log_->warn("trigger {}: cannot return items of {} to {}: {}", trigger_name_, processing,
                 config_.list, reply.describe());
      co_return false;
    }
    if (reply.nil()) break;
    ++moved;
  }
  if (moved > 0) {
    log_->info("trigger {}: returned {} item(s) of {} to {}", trigger_name_, moved, processing,
               config_.list);
  }
  co_return true;
}

asio::awaitable<bool> RedisListSource::connect() {
  if (!co_await reader_.connect(kConnectTimeout)) co_return false;
  // Our processing list holds what a previous run of this consumer took and never finished.
  // Items of this run that are still in flight or waiting for their LREM stay where they are.
  if (!inflight_.empty() || !acks_.empty()) co_return true;
  const bool returned = co_await return_items(reader_, processing_);
  if (!returned) reader_.close();
  co_return returned;
}

asio::awaitable<void> RedisListSource::run(EventSink& sink) {
  asio::co_spawn(executor_, ack_loop(), asio::detached);
  asio::co_spawn(executor_, keeper_loop(), asio::detached);
  while (!stopped_) {
    if (!reader_.connected()) {
      reconnect_.lost();
      const bool connected = co_await connect();
      if (!connected) {
        co_await reconnect_.failed(sleep_timer_, stopped_);
        continue;
      }
      reconnect_.connected();
      log_->info("trigger {}: taking items of list {} into {} on redis {}", trigger_name_,
                 config_.list, processing_, connection_name_);
    }
    co_await sink.wait_for_room();
    if (stopped_) break;
    // What a crash now would deliver again: items in flight, and finished ones whose LREM
    // has not completed. Kept within max_inflight.
    if (!sink.has_room() || inflight_.size() + acks_.size() + removing_ >= max_inflight_) {
      // Woken as soon as LREMs complete; the 10 ms only bound the wait should a wake-up be
      // missed (a plain 10 ms sleep here held every freed slot idle for up to 10 ms).
      co_await sleep(bound_wake_, 10ms);
      continue;
    }
    const std::size_t room = max_inflight_ - (inflight_.size() + acks_.size() + removing_);
    // Several free slots: take up to that many at once (one round trip); when the list is
    // empty the blocking take below waits for the next item.
    if (room > 1) {
      const std::size_t count = std::min(room, next_batch_);
      const std::size_t taken = co_await take_batch(sink, count);
      next_batch_ = taken == count ? std::min(next_batch_ * 2, kMaxBatch) : 2;
      if (taken > 0) continue;
    }
    co_await take_one(sink);
  }
  state_.set_source_up(false);
  reader_.close();
  while (!ack_loop_done_ || !keeper_loop_done_) co_await sleep(sleep_timer_, 20ms);
  acker_.close();
  keeper_.close();
}

asio::awaitable<void> RedisListSource::take_one(EventSink& sink) {
  Reply reply = co_await reader_.command(
      args("BLMOVE", config_.list, processing_, "RIGHT", "LEFT", std::to_string(kBlock.count())),
      kBlock + kCommandTimeout);
  if (reply.failed() || reply.nil()) co_return;  // lost (the loop reconnects) or nothing new
  if (!submit(sink, reply)) co_await sleep(sleep_timer_, 1s);
}

asio::awaitable<std::size_t> RedisListSource::take_batch(EventSink& sink, std::size_t count) {
  // LMOVE does not block: once the list is empty the rest of the batch answers nil. Each item
  // still moves atomically into our processing list, in the list's order.
  std::vector<std::vector<std::string>> commands(
      count, args("LMOVE", config_.list, processing_, "RIGHT", "LEFT"));
  std::vector<Reply> replies = co_await reader_.pipeline(std::move(commands), kCommandTimeout);
  std::size_t taken = 0;
  for (Reply& reply : replies) {
    if (reply.failed() || reply.nil()) break;  // lost (the loop reconnects) or the list is empty
    if (!submit(sink, reply)) {
      co_await sleep(sleep_timer_, 1s);
      break;
    }
    ++taken;
  }
  co_return taken;
}

bool RedisListSource::submit(EventSink& sink, Reply& reply) {
  if (reply.type != Reply::Type::kString) {
    log_->warn("trigger {}: taking an item from {} failed: {}", trigger_name_, config_.list,
               reply.describe());
    return false;
  }
  std::string item = reply.str;
  Event event = make_list_event(connection_name_, config_.list, std::move(reply.str));
  const std::uint64_t token = next_token_++;
  event.ack = AckHandle(this, token);
  if (!sink.try_submit(event)) {
    // Draining: the item waits in our processing list and goes back at the next start.
    event.ack = AckHandle();
    return true;
  }
  inflight_.emplace(token, std::move(item));
  return true;
}

void RedisListSource::acknowledge(std::uint64_t token, Outcome outcome) {
  auto it = inflight_.find(token);
  if (it == inflight_.end()) return;
  // Abandoned: it stays in the processing list, to go back to the queue at the next start.
  if (outcome != Outcome::abandoned) acks_.push_back(std::move(it->second));
  inflight_.erase(it);
  ack_wake_.cancel();
}

asio::awaitable<void> RedisListSource::ack_loop() {
  int failures = 0;
  while (true) {
    if (acks_.empty()) {
      if (stopped_ && inflight_.empty()) break;
      ack_wake_.expires_at(std::chrono::steady_clock::time_point::max());
      co_await ack_wake_.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    if (stopped_ && inflight_.empty() && failures >= kAckAttemptsAfterStop) {
      log_->warn(
          "trigger {}: {} item(s) not removed from {} before the stop; they will be "
          "delivered again",
          trigger_name_, acks_.size(), processing_);
      break;
    }
    bool connected = acker_.connected();
    if (!connected) connected = co_await acker_.connect(kConnectTimeout);
    if (!connected) {
      ++failures;
      co_await sleep(ack_sleep_, reconnect_delay(failures));
      continue;
    }
    // Everything finished since the last round trip: one LREM each, sent together.
    std::vector<std::string> batch = std::move(acks_);
    acks_.clear();
    std::vector<std::vector<std::string>> commands;
    commands.reserve(batch.size());
    for (const std::string& item : batch) commands.push_back(args("LREM", processing_, "-1", item));
    removing_ = batch.size();
    std::vector<Reply> replies = co_await acker_.pipeline(std::move(commands), kCommandTimeout);
    removing_ = 0;
    bound_wake_.cancel();
    std::vector<std::string> again;
    for (std::size_t i = 0; i < replies.size(); ++i) {
      if (replies[i].error()) again.push_back(std::move(batch[i]));
    }
    if (!again.empty()) {
      ++failures;
      log_->warn("trigger {}: LREM of {} item(s) from {} failed: {}; retrying", trigger_name_,
                 again.size(), processing_, replies.back().describe());
      acks_.insert(acks_.begin(), again.begin(), again.end());
      co_await sleep(ack_sleep_, reconnect_delay(failures));
      continue;
    }
    failures = 0;
  }
  ack_loop_done_ = true;
}

asio::awaitable<void> RedisListSource::keeper_loop() {
  int failures = 0;
  int turn = 0;
  const std::string heartbeat = heartbeat_key(config_.list, consumer_);
  const std::string consumers = consumers_key(config_.list);
  while (!stopped_) {
    bool connected = keeper_.connected();
    if (!connected) connected = co_await keeper_.connect(kConnectTimeout);
    if (connected) {
      std::vector<std::vector<std::string>> commands;
      commands.push_back(args("LLEN", config_.list));
      commands.push_back(
          args("SET", heartbeat, "1", "PX", std::to_string(kHeartbeatTtl.count() * 1000)));
      commands.push_back(args("SADD", consumers, consumer_));
      std::vector<Reply> replies = co_await keeper_.pipeline(std::move(commands), kCommandTimeout);
      if (replies[0].type == Reply::Type::kInteger) {
        failures = 0;
        depth_.store(replies[0].integer, std::memory_order_relaxed);
        state_.set_queue_depth(replies[0].integer);
      } else {
        ++failures;
      }
      if (failures == 0 && ++turn % kRecoveryEvery == 0) {
        Reply members = co_await keeper_.command(args("SMEMBERS", consumers), kCommandTimeout);
        for (const Reply& member : members.elements) {
          if (member.str == consumer_ || stopped_) continue;
          Reply alive = co_await keeper_.command(
              args("EXISTS", heartbeat_key(config_.list, member.str)), kCommandTimeout);
          if (alive.type != Reply::Type::kInteger || alive.integer != 0) continue;
          log_->info("trigger {}: consumer {} of list {} has no heartbeat; returning its items",
                     trigger_name_, member.str, config_.list);
          if (co_await return_items(keeper_, processing_key(config_.list, member.str))) {
            co_await keeper_.command(args("SREM", consumers, member.str), kCommandTimeout);
          }
        }
      }
    } else {
      ++failures;
    }
    const std::chrono::milliseconds delay =
        failures > 0 ? reconnect_delay(failures) : std::chrono::milliseconds(kKeeperInterval);
    co_await sleep(keeper_timer_, delay);
  }
  keeper_loop_done_ = true;
}

}  // namespace triggerd::redis
