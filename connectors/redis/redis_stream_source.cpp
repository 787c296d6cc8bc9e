#include "connectors/redis/redis_stream_source.hpp"

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/logging.hpp"
#include "core/metrics.hpp"
#include "connectors/redis/redis_event.hpp"
#include "connectors/redis/redis_stream_backlog.hpp"

namespace triggerd::redis {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// How long one XREADGROUP waits for new entries: short, so a stop or a claim comes soon.
constexpr auto kBlock = 1000ms;
// How often the group's lag is read (on the reading connection, between reads).
constexpr auto kDepthInterval = 1s;
// Held entries refreshed per XCLAIM (several go in one pipeline): keeps each command, and
// Redis's time on it, small when max_inflight is large.
constexpr std::size_t kRefreshBatch = 1000;

// Empties the ids acked during a read of the PEL once that read's answer is dealt with.
struct ForgetAcked {
  std::vector<std::string>& ids;
  ~ForgetAcked() { ids.clear(); }
};

std::chrono::milliseconds claim_interval(std::chrono::milliseconds claim_idle) {
  return std::clamp<std::chrono::milliseconds>(claim_idle / 2, 200ms, 30s);
}

// Three refreshes per claim_idle: one that fails or comes late still leaves two before
// another replica may claim.
std::chrono::milliseconds refresh_interval(std::chrono::milliseconds claim_idle) {
  return std::max<std::chrono::milliseconds>(claim_idle / 3, 100ms);
}

}  // namespace

RedisStreamSource::RedisStreamSource(asio::any_io_executor executor, const config::Trigger& trigger,
                                     const config::Connection& connection, TriggerState& state)
    : context_(trigger, connection, state),
      config_(std::get<config::RedisStreamSource>(trigger.source)),
      consumer_(config_.consumer.empty() ? host_name() : config_.consumer),
      max_inflight_(static_cast<std::size_t>(std::max(1, trigger.delivery.max_inflight))),
      ahead_capacity_(
          std::min(max_inflight_.load(), static_cast<std::size_t>(std::max(1, config_.count)))),
      refill_at_(ahead_capacity_ / 2),
      claim_interval_(claim_interval(config_.claim_idle)),
      refresh_interval_(refresh_interval(config_.claim_idle)),
      drain_(executor, "redis-stream", context_),
      reader_(executor, context_.spec),
      acks_(executor,
            AckWriter::Settings{.command = args("XACK", config_.stream, config_.group),
                                .upkeep_every = refresh_interval_},
            *this, drain_, context_),
      sleep_timer_(executor),
      read_wake_(executor),
      feed_wake_(executor),
      reconnect_(reader_, context_),
      ahead_(ahead_capacity_),
      depth_(state) {}

RedisStreamSource::~RedisStreamSource() = default;

std::optional<std::int64_t> RedisStreamSource::queue_depth() const { return depth_.get(); }

// The read-ahead ring keeps the capacity it was made with (min(count, the first max_inflight)).
void RedisStreamSource::set_max_inflight(int max_inflight) {
  max_inflight_ = static_cast<std::size_t>(std::max(1, max_inflight));
}

void RedisStreamSource::publish_depth() {
  if (lag_ < 0) return;
  depth_.publish(lag_ + static_cast<std::int64_t>(ahead_size_));
}

std::size_t RedisStreamSource::free_to_read() const {
  const std::size_t ahead_room = ahead_capacity_ - ahead_size_;
  const std::size_t bound = max_inflight_ + ahead_capacity_;
  const std::size_t held_room = held_ids_.size() >= bound ? 0 : bound - held_ids_.size();
  return std::min(ahead_room, held_room);
}

void RedisStreamSource::stop_taking() {
  if (!drain_.stop()) return;
  // Ends a blocking XREADGROUP at once. Entries it had already taken, and those in the
  // read-ahead, stay pending in the group and are delivered again (to this consumer on its
  // next start, or claimed by another once they are idle for claim_idle: they are no longer
  // refreshed).
  reader_.close();
  drop_ahead();
  sleep_timer_.cancel();
  read_wake_.cancel();
  feed_wake_.cancel();
}

void RedisStreamSource::close(std::chrono::steady_clock::time_point deadline) {
  stop_taking();
  if (drain_.close(deadline)) acks_.wake();
}

asio::awaitable<bool> RedisStreamSource::connect() {
  if (!co_await reader_.connect(kConnectTimeout)) co_return false;
  Reply created = co_await reader_.command(
      args("XGROUP", "CREATE", config_.stream, config_.group, config_.start, "MKSTREAM"),
      kCommandTimeout);
  if (created.error() && created.str.rfind("BUSYGROUP", 0) != 0) {
    context_.log->warn("trigger {}: cannot create consumer group {} on stream {}: {}",
                       context_.trigger, config_.group, config_.stream, created.describe());
    reader_.close();
    co_return false;
  }
  co_return true;
}

asio::awaitable<void> RedisStreamSource::run(EventSink& sink) {
  drain_.spawn("ack loop", acks_.run());
  drain_.spawn("feed loop", feed_loop(sink));
  while (!drain_.stopped()) {
    if (!reader_.connected()) {
      reconnect_.lost();
      const bool connected = co_await connect();
      if (!connected) {
        co_await reconnect_.failed(sleep_timer_, drain_.stopped());
        continue;
      }
      reconnect_.connected();
      context_.log->info("trigger {}: reading stream {} as {}/{} on redis {}", context_.trigger,
                         config_.stream, config_.group, consumer_, context_.connection);
      // Entries still in the read-ahead stay there: they are still ours in the PEL, and the
      // re-read below skips them.
      pending_phase_ = true;
      pending_cursor_ = "0";
      next_depth_ = std::chrono::steady_clock::now();
    }
    if (std::chrono::steady_clock::now() >= next_depth_) {
      co_await read_depth();
      continue;
    }
    const std::size_t free = free_to_read();
    if (ahead_size_ > refill_at_ || free == 0) {
      // Enough waiting: the feeder wakes us when the read-ahead runs low (and acks when they
      // free held entries); the depth is due now and then all the same.
      read_wake_.expires_at(next_depth_);
      co_await read_wake_.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    co_await read_once(free);
  }
  context_.state.set_source_up(false);
  reader_.close();
  // The events still in flight finish after the stop, and their XACKs go out as they do,
  // until close() says when to be done.
  const std::size_t left = co_await drain_.closed();
  // Ends an XACK still waiting for its reply: the ack loop then sees the deadline and ends.
  acks_.client().close();
  co_await drain_.reap(left);
}

asio::awaitable<void> RedisStreamSource::read_once(std::size_t free) {
  const auto now = std::chrono::steady_clock::now();
  if (!pending_phase_ && now >= next_claim_) {
    co_await claim(free);
    co_return;
  }
  const bool reading_new = !pending_phase_;
  std::vector<std::string> command =
      args("XREADGROUP", "GROUP", config_.group, consumer_, "COUNT", std::to_string(free));
  if (reading_new) {
    // No longer than until the next depth is due: with nothing new to read, the entries in
    // flight still finish, and the backlog total must follow them within about a second.
    const auto until_depth =
        std::chrono::duration_cast<std::chrono::milliseconds>(next_depth_ - now);
    const auto block = std::clamp<std::chrono::milliseconds>(until_depth, 1ms, kBlock);
    command.emplace_back("BLOCK");
    command.push_back(std::to_string(block.count()));
  }
  command.emplace_back("STREAMS");
  command.push_back(config_.stream);
  command.push_back(reading_new ? ">" : pending_cursor_);
  reading_history_ = !reading_new;
  Reply reply = co_await reader_.command(std::move(command), kBlock + kCommandTimeout);
  reading_history_ = false;
  ForgetAcked forget{acked_while_reading_};
  if (reply.failed()) {
    drain_.count_read_failure();
    co_return;  // the loop reconnects
  }
  // Entries of a read that completed just as the stop came stay pending, unstarted.
  if (drain_.stopped()) co_return;
  if (reply.type == Reply::Type::kError) {
    // NOGROUP: the stream or the group was deleted under us; reconnecting re-creates them.
    drain_.count_read_failure();
    context_.log->warn("trigger {}: XREADGROUP on {} failed: {}", context_.trigger, config_.stream,
                       reply.str);
    reader_.close();
    co_await drain_.sleep(sleep_timer_, 1s);
    co_return;
  }
  if (reply.nil() || reply.elements.empty()) {
    if (!reading_new) pending_phase_ = false;  // BLOCK ran out: nothing new
    co_return;
  }
  // [[stream, [[id, fields], ...]]]
  const Reply& stream = reply.elements.front();
  if (stream.elements.size() < 2) co_return;
  const Reply& entries = stream.elements[1];
  if (reading_new && lag_ >= 0) {
    // They left the group's lag; from now on they are in the read-ahead.
    lag_ = std::max<std::int64_t>(0, lag_ - static_cast<std::int64_t>(entries.elements.size()));
  }
  std::size_t seen = 0;
  std::string last = take_entries(entries, &seen);
  publish_depth();
  if (!reading_new && pending_phase_) {
    if (seen == 0) {
      pending_phase_ = false;
      context_.log->debug("trigger {}: own pending entries re-read", context_.trigger);
    } else {
      pending_cursor_ = last;
    }
  }
}

asio::awaitable<void> RedisStreamSource::claim(std::size_t free) {
  reading_history_ = true;
  Reply reply =
      co_await reader_.command(args("XAUTOCLAIM", config_.stream, config_.group, consumer_,
                                    std::to_string(config_.claim_idle.count()), claim_cursor_,
                                    "COUNT", std::to_string(std::max<std::size_t>(1, free))),
                               kCommandTimeout);
  reading_history_ = false;
  ForgetAcked forget{acked_while_reading_};
  if (reply.failed()) {
    drain_.count_read_failure();
    co_return;
  }
  if (drain_.stopped()) co_return;
  if (reply.type == Reply::Type::kError || reply.elements.size() < 2) {
    drain_.count_read_failure();
    context_.log->warn("trigger {}: XAUTOCLAIM on {} failed: {}", context_.trigger, config_.stream,
                       reply.describe());
    next_claim_ = std::chrono::steady_clock::now() + claim_interval_;
    co_return;
  }
  claim_cursor_ = reply.elements[0].str;
  // A full round ends at 0-0; until then go on at the next turn.
  if (claim_cursor_ == "0-0") next_claim_ = std::chrono::steady_clock::now() + claim_interval_;
  std::size_t seen = 0;
  take_entries(reply.elements[1], &seen);
  publish_depth();
  if (seen > 0) {
    context_.log->info("trigger {}: claimed {} entr{} idle longer than {} ms", context_.trigger,
                       seen, seen == 1 ? "y" : "ies", config_.claim_idle.count());
  }
}

asio::awaitable<void> RedisStreamSource::read_depth() {
  // On the reading connection: Redis answers it after our previous read and before our next,
  // so the lag it gives and the read-ahead we hold never both count one entry.
  next_depth_ = std::chrono::steady_clock::now() + kDepthInterval;
  Reply reply = co_await reader_.command(args("XINFO", "GROUPS", config_.stream), kCommandTimeout);
  if (reply.failed()) {
    drain_.count_read_failure();
    co_return;  // the loop reconnects
  }
  const std::optional<StreamGroupInfo> group = find_stream_group(reply, config_.group);
  if (reply.type == Reply::Type::kError) {
    // No stream yet: nothing waits in Redis.
    lag_ = 0;
    context_.state.set_backlog_total(0);
  } else if (group) {
    std::optional<std::int64_t> lag = group->lag;
    if (lag) {
      lag_unknown_logged_ = false;  // the next time Redis cannot tell is news again
    } else {
      lag = co_await bound_unread(*group);
    }
    if (lag) {
      lag_ = *lag;
      // The group's whole backlog, whichever replica asks: what no consumer read yet, and what
      // consumers read and did not acknowledge (in flight, read ahead, or held by a replica
      // that died, until another claims it).
      context_.state.set_backlog_total(*lag + group->pending);
    }
  }
  publish_depth();
}

asio::awaitable<std::optional<std::int64_t>> RedisStreamSource::bound_unread(
    StreamGroupInfo group) {
  // Rare (redis_stream_backlog.hpp): one more command, on the same connection, only then.
  Reply reply = co_await reader_.command(args("XINFO", "STREAM", config_.stream), kCommandTimeout);
  if (reply.failed()) {
    drain_.count_read_failure();
    co_return std::nullopt;
  }
  const std::optional<StreamInfo> stream = read_stream_info(reply);
  if (!stream) co_return std::nullopt;
  if (!lag_unknown_logged_) {
    lag_unknown_logged_ = true;
    context_.log->info(
        "trigger {}: Redis cannot tell the lag of group {} on stream {} (entries after its "
        "position were deleted, or it was moved with XGROUP SETID); counting at most {} unread "
        "entries until it can",
        context_.trigger, config_.group, config_.stream, unread_bound(group, *stream));
  }
  co_return unread_bound(group, *stream);
}

std::string RedisStreamSource::take_entries(const Reply& entries, std::size_t* seen) {
  std::string last;
  for (const Reply& entry : entries.elements) {
    if (entry.elements.empty()) continue;
    const std::string& id = entry.elements[0].str;
    if (held_ids_.contains(id) ||  // ours already: read ahead, in flight or being acked
        std::find(acked_while_reading_.begin(), acked_while_reading_.end(), id) !=
            acked_while_reading_.end()) {  // or finished just now
      last = id;
      ++*seen;
      continue;
    }
    if (entry.elements.size() < 2 || entry.elements[1].nil()) {
      // Deleted from the stream while pending: nothing to deliver, only to acknowledge.
      last = id;
      ++*seen;
      held_ids_.insert(id);
      acks_.add(id);
      continue;
    }
    if (ahead_size_ == ahead_capacity_) {
      // Cannot happen (reads ask for no more than there is room for); if it does, the rest
      // stays pending in our PEL and the re-read takes it.
      pending_phase_ = true;
      pending_cursor_ = "0";
      break;
    }
    last = id;
    ++*seen;
    Ahead& slot = ahead_[(ahead_head_ + ahead_size_) % ahead_capacity_];
    slot.event = make_stream_event(context_.connection, config_.stream, id, entry.elements[1]);
    ++ahead_size_;
    held_ids_.insert(id);
  }
  if (ahead_size_ > 0) feed_wake_.cancel();
  return last;
}

bool RedisStreamSource::unacknowledged_bound_reached() const {
  // Started and not XACKed yet (in flight, or finished and waiting for its XACK): what a crash
  // now would deliver again. Kept within max_inflight, as the other sources keep it.
  return held_ids_.size() - ahead_size_ >= max_inflight_;
}

void RedisStreamSource::start_ahead(EventSink& sink) {
  std::size_t started = 0;
  while (ahead_size_ > 0 && !drain_.stopped() && sink.has_room() &&
         !unacknowledged_bound_reached()) {
    Ahead& slot = ahead_[ahead_head_];
    const std::uint64_t token = next_token_++;
    std::string id = slot.event.id;
    slot.event.ack = AckHandle(this, token);
    if (!sink.try_submit(slot.event)) {
      slot.event.ack = AckHandle();  // draining: it stays pending in the group
      break;
    }
    inflight_.emplace(token, std::move(id));
    ahead_head_ = (ahead_head_ + 1) % ahead_capacity_;
    --ahead_size_;
    ++started;
  }
  if (started > 0) publish_depth();
  if (ahead_size_ <= refill_at_) read_wake_.cancel();
}

void RedisStreamSource::drop_ahead() {
  for (; ahead_size_ > 0; --ahead_size_) {
    Ahead& slot = ahead_[ahead_head_];
    held_ids_.erase(slot.event.id);
    slot.event = Event();
    ahead_head_ = (ahead_head_ + 1) % ahead_capacity_;
  }
  publish_depth();
}

asio::awaitable<void> RedisStreamSource::feed_loop(EventSink& sink) {
  while (!drain_.stopped()) {
    if (ahead_size_ == 0) {
      feed_wake_.expires_at(std::chrono::steady_clock::time_point::max());
      co_await feed_wake_.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    if (!sink.has_room()) {
      co_await sink.wait_for_room();
      // Still no room: the trigger drains (stop_taking() comes with it). Never a busy loop.
      if (!sink.has_room() && !drain_.stopped()) co_await drain_.sleep(feed_wake_, 10ms);
      continue;
    }
    if (unacknowledged_bound_reached()) {
      // Woken when an XACK lands (write_acks).
      feed_wake_.expires_at(std::chrono::steady_clock::time_point::max());
      co_await feed_wake_.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    start_ahead(sink);
  }
}

void RedisStreamSource::acknowledge(std::uint64_t token, Outcome outcome) {
  auto it = inflight_.find(token);
  if (it == inflight_.end()) return;
  std::string id = std::move(it->second);
  inflight_.erase(it);
  if (outcome == Outcome::abandoned) {
    held_ids_.erase(id);  // stays pending for redelivery
    read_wake_.cancel();
  } else {
    acks_.add(std::move(id));
  }
}

void RedisStreamSource::written(std::vector<std::string>& acknowledged) {
  if (acknowledged.empty()) return;
  for (std::string& id : acknowledged) {
    held_ids_.erase(id);
    if (reading_history_) acked_while_reading_.push_back(std::move(id));
  }
  read_wake_.cancel();  // held entries went: the reader may have room again
  feed_wake_.cancel();  // and the feeder may start entries again
}

std::string RedisStreamSource::describe_write(std::size_t items) const {
  return fmt::format("XACK of {} entr{}", items, items == 1 ? "y" : "ies");
}

std::string RedisStreamSource::describe_unwritten(std::size_t items) const {
  return fmt::format(
      "{} XACK(s) not written by the shutdown deadline; those entries stay pending and will be "
      "delivered again",
      items);
}

// Keeps what this replica holds its own, between XACKs on the same connection.
asio::awaitable<void> RedisStreamSource::upkeep() {
  if (held_ids_.empty()) co_return;
  std::size_t failed = 0;
  std::string why;
  const bool connected = co_await acks_.connect();
  if (connected) {
    // XCLAIM with min-idle 0 and JUSTID: the entry stays with this consumer, its idle time
    // starts again at 0, its delivery count is left alone. An id that is no longer pending (its
    // XACK went out just before) is skipped by Redis: this connection also carries the XACKs,
    // in order.
    std::vector<std::vector<std::string>> commands;
    std::vector<std::string> command;
    for (const std::string& id : held_ids_) {
      if (command.empty()) command = args("XCLAIM", config_.stream, config_.group, consumer_, "0");
      command.push_back(id);
      if (command.size() - 5 == kRefreshBatch) {
        command.emplace_back("JUSTID");
        commands.push_back(std::move(command));
        command.clear();
      }
    }
    if (!command.empty()) {
      command.emplace_back("JUSTID");
      commands.push_back(std::move(command));
    }
    const std::vector<Reply> replies =
        co_await acks_.client().pipeline(std::move(commands), kCommandTimeout);
    for (const Reply& reply : replies) {
      if (reply.error()) {
        ++failed;
        why = reply.describe();
      }
    }
  } else {
    failed = 1;
    why = acks_.client().last_error();
  }
  if (failed > 0) {
    context_.state.count_source_error(SourceError::kCommand);
    if (!refresh_failing_) {
      context_.log->warn(
          "trigger {}: cannot refresh the idle time of {} held entr{} ({}); if this lasts "
          "claim_idle ({} ms) another consumer may claim them and deliver them again",
          context_.trigger, held_ids_.size(), held_ids_.size() == 1 ? "y" : "ies", why,
          config_.claim_idle.count());
    }
    refresh_failing_ = true;
  } else if (refresh_failing_) {
    context_.log->info("trigger {}: refreshing the idle time of held entries again",
                       context_.trigger);
    refresh_failing_ = false;
  }
}

}  // namespace triggerd::redis
