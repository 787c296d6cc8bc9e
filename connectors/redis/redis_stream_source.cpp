#include "connectors/redis/redis_stream_source.hpp"

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
// How long one XREADGROUP waits for new entries: short, so a stop or a claim comes soon.
constexpr auto kBlock = 1000ms;
constexpr auto kDepthInterval = 1s;
// After the drain, how long acks that cannot be written are retried before they are left
// pending (they will be delivered again: at least once).
constexpr int kAckAttemptsAfterStop = 10;

std::chrono::milliseconds claim_interval(std::chrono::milliseconds claim_idle) {
  return std::clamp<std::chrono::milliseconds>(claim_idle / 2, 200ms, 30s);
}

}  // namespace

RedisStreamSource::RedisStreamSource(asio::any_io_executor executor, const config::Trigger& trigger,
                                     const config::Connection& connection, TriggerState& state)
    : executor_(executor),
      trigger_name_(trigger.name),
      connection_name_(connection.name),
      address_(std::get<config::RedisConnection>(connection.spec).address.to_string()),
      config_(std::get<config::RedisStreamSource>(trigger.source)),
      consumer_(config_.consumer.empty() ? host_name() : config_.consumer),
      max_inflight_(static_cast<std::size_t>(std::max(1, trigger.delivery.max_inflight))),
      claim_interval_(claim_interval(config_.claim_idle)),
      state_(state),
      log_(logging::get("redis")),
      reader_(executor, std::get<config::RedisConnection>(connection.spec)),
      acker_(executor, std::get<config::RedisConnection>(connection.spec)),
      depth_reader_(executor, std::get<config::RedisConnection>(connection.spec)),
      sleep_timer_(executor),
      ack_wake_(executor),
      ack_sleep_(executor),
      depth_timer_(executor),
      reconnect_(reader_, state_, trigger_name_, connection_name_, address_, log_) {}

RedisStreamSource::~RedisStreamSource() = default;

std::optional<std::int64_t> RedisStreamSource::queue_depth() const {
  const std::int64_t depth = depth_.load(std::memory_order_relaxed);
  if (depth < 0) return std::nullopt;
  return depth;
}

std::size_t RedisStreamSource::room() const {
  return inflight_.size() >= max_inflight_ ? 0 : max_inflight_ - inflight_.size();
}

asio::awaitable<void> RedisStreamSource::sleep(asio::steady_timer& timer,
                                               std::chrono::milliseconds delay) {
  timer.expires_after(delay);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

void RedisStreamSource::stop() {
  stopped_ = true;
  // Ends a blocking XREADGROUP at once. Entries it had already taken stay pending in the group
  // and are delivered again (to this consumer on its next start, or claimed by another).
  reader_.close();
  sleep_timer_.cancel();
  depth_timer_.cancel();
  ack_wake_.cancel();
}

asio::awaitable<bool> RedisStreamSource::connect() {
  if (!co_await reader_.connect(kConnectTimeout)) co_return false;
  Reply created = co_await reader_.command(
      args("XGROUP", "CREATE", config_.stream, config_.group, config_.start, "MKSTREAM"),
      kCommandTimeout);
  if (created.error() && created.str.rfind("BUSYGROUP", 0) != 0) {
    log_->warn("trigger {}: cannot create consumer group {} on stream {}: {}", trigger_name_,
               config_.group, config_.stream, created.describe());
    reader_.close();
    co_return false;
  }
  co_return true;
}

asio::awaitable<void> RedisStreamSource::run(EventSink& sink) {
  asio::co_spawn(executor_, ack_loop(), asio::detached);
  asio::co_spawn(executor_, depth_loop(), asio::detached);
  while (!stopped_) {
    if (!reader_.connected()) {
      reconnect_.lost();
      const bool connected = co_await connect();
      if (!connected) {
        co_await reconnect_.failed(sleep_timer_, stopped_);
        continue;
      }
      reconnect_.connected();
      log_->info("trigger {}: reading stream {} as {}/{} on redis {}", trigger_name_,
                 config_.stream, config_.group, consumer_, connection_name_);
      pending_phase_ = true;
      pending_cursor_ = "0";
    }
    co_await sink.wait_for_room();
    if (stopped_ || !sink.has_room() || room() == 0) {
      if (!stopped_) co_await sleep(sleep_timer_, 10ms);  // never a busy loop
      continue;
    }
    co_await read_once(sink);
  }
  state_.set_source_up(false);
  reader_.close();
  // The events still in flight finish after the stop; their acks go out before we leave.
  while (!ack_loop_done_ || !depth_loop_done_) co_await sleep(sleep_timer_, 20ms);
  acker_.close();
  depth_reader_.close();
}

asio::awaitable<void> RedisStreamSource::read_once(EventSink& sink) {
  const auto now = std::chrono::steady_clock::now();
  if (!pending_phase_ && now >= next_claim_) {
    co_await claim(sink, room());
    co_return;
  }
  const std::size_t count =
      std::min<std::size_t>(room(), static_cast<std::size_t>(std::max(1, config_.count)));
  std::vector<std::string> command =
      args("XREADGROUP", "GROUP", config_.group, consumer_, "COUNT", std::to_string(count));
  if (!pending_phase_) {
    command.emplace_back("BLOCK");
    command.push_back(std::to_string(kBlock.count()));
  }
  command.emplace_back("STREAMS");
  command.push_back(config_.stream);
  command.push_back(pending_phase_ ? pending_cursor_ : ">");
  Reply reply = co_await reader_.command(std::move(command), kBlock + kCommandTimeout);
  if (reply.failed()) co_return;  // the loop reconnects
  if (reply.type == Reply::Type::kError) {
    // NOGROUP: the stream or the group was deleted under us; reconnecting re-creates them.
    log_->warn("trigger {}: XREADGROUP on {} failed: {}", trigger_name_, config_.stream, reply.str);
    reader_.close();
    co_await sleep(sleep_timer_, 1s);
    co_return;
  }
  if (reply.nil() || reply.elements.empty()) {  // BLOCK ran out: nothing new
    pending_phase_ = false;
    co_return;
  }
  // [[stream, [[id, fields], ...]]]
  const Reply& stream = reply.elements.front();
  if (stream.elements.size() < 2) co_return;
  std::size_t seen = 0;
  std::string last = submit_entries(sink, stream.elements[1], &seen);
  if (pending_phase_) {
    if (seen == 0) {
      pending_phase_ = false;
      log_->debug("trigger {}: own pending entries re-read", trigger_name_);
    } else {
      pending_cursor_ = last;
    }
  }
}

asio::awaitable<void> RedisStreamSource::claim(EventSink& sink, std::size_t room_left) {
  Reply reply =
      co_await reader_.command(args("XAUTOCLAIM", config_.stream, config_.group, consumer_,
                                    std::to_string(config_.claim_idle.count()), claim_cursor_,
                                    "COUNT", std::to_string(std::max<std::size_t>(1, room_left))),
                               kCommandTimeout);
  if (reply.failed()) co_return;
  if (reply.type == Reply::Type::kError || reply.elements.size() < 2) {
    log_->warn("trigger {}: XAUTOCLAIM on {} failed: {}", trigger_name_, config_.stream,
               reply.describe());
    next_claim_ = std::chrono::steady_clock::now() + claim_interval_;
    co_return;
  }
  claim_cursor_ = reply.elements[0].str;
  std::size_t seen = 0;
  submit_entries(sink, reply.elements[1], &seen);
  if (seen > 0) {
    log_->info("trigger {}: claimed {} entr{} idle longer than {} ms", trigger_name_, seen,
               seen == 1 ? "y" : "ies", config_.claim_idle.count());
  }
  // A full round ends at 0-0; until then go on at the next turn.
  if (claim_cursor_ == "0-0") next_claim_ = std::chrono::steady_clock::now() + claim_interval_;
}

std::string RedisStreamSource::submit_entries(EventSink& sink, const Reply& entries,
                                              std::size_t* seen) {
  std::string last;
  for (const Reply& entry : entries.elements) {
    if (entry.elements.empty()) continue;
    const std::string& id = entry.elements[0].str;
    last = id;
    ++*seen;
    if (held_ids_.contains(id)) continue;  // ours already, still in flight
    if (entry.elements.size() < 2 || entry.elements[1].nil()) {
      // Deleted from the stream while pending: nothing to deliver, only to acknowledge.
      held_ids_.insert(id);
      acks_.push_back(id);
      ack_wake_.cancel();
      continue;
    }
    Event event = make_stream_event(connection_name_, config_.stream, id, entry.elements[1]);
    const std::uint64_t token = next_token_++;
    event.ack = AckHandle(this, token);
    if (!sink.try_submit(event)) {
      // Full or draining: it stays pending in the group; re-read it later.
      event.ack = AckHandle();
      pending_phase_ = true;
      pending_cursor_ = "0";
      break;
    }
    inflight_.emplace(token, id);
    held_ids_.insert(id);
  }
  return last;
}

void RedisStreamSource::acknowledge(std::uint64_t token, Outcome outcome) {
  auto it = inflight_.find(token);
  if (it == inflight_.end()) return;
  std::string id = std::move(it->second);
  inflight_.erase(it);
  if (outcome == Outcome::abandoned) {
    held_ids_.erase(id);  // stays pending for redelivery
  } else {
    acks_.push_back(std::move(id));
  }
  ack_wake_.cancel();
}

asio::awaitable<void> RedisStreamSource::ack_loop() {
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
          "trigger {}: {} XACK(s) not written before the stop; they will be delivered "
          "again",
          trigger_name_, acks_.size());
      break;
    }
    bool connected = acker_.connected();
    if (!connected) connected = co_await acker_.connect(kConnectTimeout);
    if (!connected) {
      ++failures;
      co_await sleep(ack_sleep_, reconnect_delay(failures));
      continue;
    }
    // Everything that finished since the last XACK, in one command.
    std::vector<std::string> batch = std::move(acks_);
    acks_.clear();
    std::vector<std::string> command = args("XACK", config_.stream, config_.group);
    command.insert(command.end(), batch.begin(), batch.end());
    Reply reply = co_await acker_.command(std::move(command), kCommandTimeout);
    if (reply.error()) {
      ++failures;
      log_->warn("trigger {}: XACK of {} entr{} failed: {}; retrying", trigger_name_, batch.size(),
                 batch.size() == 1 ? "y" : "ies", reply.describe());
      acks_.insert(acks_.begin(), batch.begin(), batch.end());
      co_await sleep(ack_sleep_, reconnect_delay(failures));
      continue;
    }
    failures = 0;
    for (const std::string& id : batch) held_ids_.erase(id);
  }
  ack_loop_done_ = true;
}

asio::awaitable<void> RedisStreamSource::depth_loop() {
  int failures = 0;
  while (!stopped_) {
    bool connected = depth_reader_.connected();
    if (!connected) connected = co_await depth_reader_.connect(kConnectTimeout);
    if (connected) {
      Reply reply =
          co_await depth_reader_.command(args("XINFO", "GROUPS", config_.stream), kCommandTimeout);
      if (reply.type == Reply::Type::kArray) {
        failures = 0;
        for (const Reply& group : reply.elements) {
          // A flat [name, value, ...] list per group.
          const auto& fields = group.elements;
          bool ours = false;
          std::optional<std::int64_t> lag;
          for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
            if (fields[i].str == "name") ours = fields[i + 1].str == config_.group;
            if (fields[i].str == "lag" && fields[i + 1].type == Reply::Type::kInteger) {
              lag = fields[i + 1].integer;
            }
          }
          if (ours && lag) {
            depth_.store(*lag, std::memory_order_relaxed);
            state_.set_queue_depth(*lag);
          }
        }
      } else if (reply.type == Reply::Type::kError) {
        depth_.store(0, std::memory_order_relaxed);  // no stream yet: nothing waits
        state_.set_queue_depth(0);
      } else {
        ++failures;
      }
    } else {
      ++failures;
    }
    const std::chrono::milliseconds delay =
        failures > 0 ? reconnect_delay(failures) : std::chrono::milliseconds(kDepthInterval);
    co_await sleep(depth_timer_, delay);
  }
  depth_loop_done_ = true;
}

}  // namespace triggerd::redis
