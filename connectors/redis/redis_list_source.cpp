#include "connectors/redis/redis_list_source.hpp"

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>
#include <utility>

#include "core/logging.hpp"
#include "core/metrics.hpp"
#include "connectors/redis/redis_event.hpp"

namespace triggerd::redis {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// BLMOVE's own timeout, in seconds: short, so that a stop comes soon.
constexpr auto kBlock = 1s;
// Items taken in one round trip at most, when that many slots are free.
constexpr std::size_t kMaxBatch = 100;
constexpr auto kKeeperInterval = 1s;
// A consumer whose heartbeat is older than this is dead: its items go back to the queue.
constexpr auto kHeartbeatTtl = 10s;
// Dead consumers are looked for every this many keeper turns.
constexpr int kRecoveryEvery = 3;
// How often a process whose consumer name is taken tries again.
constexpr auto kNameRetry = 1s;
// More TTL left than the clock allows, by this much, means the holder renewed it: well above
// the round trips' jitter, well below the renewal's 1 s step.
constexpr auto kRenewalMargin = 250ms;
// Takes the consumer name (KEYS[1], the heartbeat key) for token ARGV[1] with a TTL of ARGV[2]
// ms when it is free or already ours, which also renews it, and lists the consumer (ARGV[3]) in
// the list's consumers set (KEYS[2]) in the same step: {1}. When another token holds it:
// {0, the key's remaining TTL in ms}. Listed before it takes anything, a consumer that dies
// right after its first take still has its items found and returned by the others.
constexpr const char* kClaimName =
    "local held = redis.call('GET', KEYS[1]) "
    "if held == false or held == ARGV[1] then "
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) "
    "redis.call('SADD', KEYS[2], ARGV[3]) return {1} end "
    "return {0, redis.call('PTTL', KEYS[1])}";

// What kClaimName answered: claimed (or renewed), taken (with the holder's TTL left), or
// nothing usable.
struct NameClaim {
  bool answered = false;
  bool claimed = false;
  long long ttl_left = 0;
};

NameClaim read_claim(const Reply& reply) {
  NameClaim claim;
  if (reply.type != Reply::Type::kArray || reply.elements.empty() ||
      reply.elements[0].type != Reply::Type::kInteger) {
    return claim;
  }
  claim.answered = true;
  claim.claimed = reply.elements[0].integer == 1;
  if (reply.elements.size() > 1) claim.ttl_left = reply.elements[1].integer;
  return claim;
}
// The items of the list (KEYS[1]) and of the processing lists (the other KEYS) together: one
// script, so that Redis counts them in one step and an item moving from the list to a
// processing list (LMOVE) or back is never counted twice or missed.
constexpr const char* kCountItems =
    "local n = 0 for _, key in ipairs(KEYS) do n = n + redis.call('LLEN', key) end return n";

// Gives the name up if it is still ours.
constexpr const char* kReleaseName =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
    "return 0";

std::string make_name_token() {
  std::random_device random;
  const std::uint64_t part = (static_cast<std::uint64_t>(random()) << 32) ^ random();
  return host_name() + ":" + std::to_string(getpid()) + ":" + std::to_string(part);
}

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
    : context_(trigger, connection, state),
      config_(std::get<config::RedisListSource>(trigger.source)),
      consumer_(config_.consumer.empty() ? host_name() : config_.consumer),
      processing_(processing_key(config_.list, consumer_)),
      heartbeat_(heartbeat_key(config_.list, consumer_)),
      name_token_(make_name_token()),
      max_inflight_(static_cast<std::size_t>(std::max(1, trigger.delivery.max_inflight))),
      drain_(executor, "redis-list", context_),
      reader_(executor, context_.spec),
      keeper_(executor, context_.spec),
      acks_(executor,
            AckWriter::Settings{.command = args("LREM", processing_, "-1"),
                                .one_command_per_item = true},
            *this, drain_, context_),
      sleep_timer_(executor),
      bound_wake_(executor),
      keeper_timer_(executor),
      reconnect_(reader_, context_),
      depth_(state) {}

RedisListSource::~RedisListSource() = default;

std::optional<std::int64_t> RedisListSource::queue_depth() const { return depth_.get(); }

void RedisListSource::set_max_inflight(int max_inflight) {
  max_inflight_ = static_cast<std::size_t>(std::max(1, max_inflight));
}

void RedisListSource::stop_taking() {
  if (!drain_.stop()) return;
  // Ends a waiting BLMOVE at once. An item it moved just then stays in our processing list
  // and goes back to the queue at our next start (or when a live consumer sees us gone).
  reader_.close();
  sleep_timer_.cancel();
  bound_wake_.cancel();
}

void RedisListSource::close(std::chrono::steady_clock::time_point deadline) {
  stop_taking();
  if (!drain_.close(deadline)) return;
  acks_.wake();
  keeper_timer_.cancel();
}

asio::awaitable<bool> RedisListSource::return_items(RedisClient& client,
                                                    const std::string& processing) {
  std::size_t moved = 0;
  while (true) {
    Reply reply = co_await client.command(args("LMOVE", processing, config_.list, "LEFT", "RIGHT"),
                                          kCommandTimeout);
    if (reply.error()) {
      context_.state.count_source_error(SourceError::kCommand);
      context_.log->warn("trigger {}: cannot return items of {} to {}: {}", context_.trigger,
                         processing, config_.list, reply.describe());
      co_return false;
    }
    if (reply.nil()) break;
    ++moved;
  }
  if (moved > 0) {
    context_.log->info("trigger {}: returned {} item(s) of {} to {}", context_.trigger, moved,
                       processing, config_.list);
  }
  co_return true;
}

asio::awaitable<RedisListSource::Join> RedisListSource::connect() {
  // Awaited results go through named variables: g++ 12 miscompiles some co_await expressions
  // in an if's condition.
  bool connected = reader_.connected();
  if (!connected) connected = co_await reader_.connect(kConnectTimeout);
  if (!connected) co_return Join::kFailed;
  // Our processing list is ours only while the name is: never touch it before.
  Reply claimed = co_await reader_.command(
      args("EVAL", kClaimName, "2", heartbeat_, consumers_key(config_.list), name_token_,
           std::to_string(std::chrono::milliseconds(kHeartbeatTtl).count()), consumer_),
      kCommandTimeout);
  const NameClaim claim = read_claim(claimed);
  if (!claim.answered) {
    drain_.count_read_failure();
    if (!claimed.failed()) {
      context_.log->warn("trigger {}: cannot take the consumer name {} of list {}: {}",
                         context_.trigger, consumer_, config_.list, claimed.describe());
    }
    reader_.close();
    co_return Join::kFailed;
  }
  if (!claim.claimed) {
    // A TTL that ran down by less than the time since the last try was renewed meanwhile: its
    // holder is alive. One that runs down with the clock is a dead process's (a restart after
    // a crash sees that): it expires.
    const auto now = std::chrono::steady_clock::now();
    if (holder_ttl_ >= 0) {
      const auto since =
          std::chrono::duration_cast<std::chrono::milliseconds>(now - holder_seen_at_);
      holder_renewed_ = claim.ttl_left > holder_ttl_ - since.count() + kRenewalMargin.count();
    }
    holder_ttl_ = claim.ttl_left;
    holder_seen_at_ = now;
    co_return Join::kNameTaken;
  }
  holder_ttl_ = -1;
  owns_name_ = true;
  keeper_timer_.cancel();  // the keeper renews it from now on
  // Our processing list holds what a previous run of this consumer took and never finished.
  // Items of this run that are still in flight or owe their LREM (waiting, or in a write
  // that is under way) stay where they are.
  if (!inflight_.empty() || acks_.owed() > 0) co_return Join::kJoined;
  const bool returned = co_await return_items(reader_, processing_);
  if (!returned) {
    reader_.close();
    co_return Join::kFailed;
  }
  co_return Join::kJoined;
}

asio::awaitable<void> RedisListSource::name_taken() {
  const auto now = std::chrono::steady_clock::now();
  if (!name_taken_since_) {
    name_taken_since_ = now;
    // Also what a restart after a crash sees: the dead process's heartbeat lives on for its TTL.
    context_.log->info(
        "trigger {}: the consumer name {} of list {} is held by another process ({} is set); "
        "waiting up to {} s for it to be released or to expire",
        context_.trigger, consumer_, config_.list, heartbeat_,
        std::chrono::seconds(kHeartbeatTtl).count());
  } else if (!name_conflict_logged_ &&
             (holder_renewed_ || now - *name_taken_since_ > kHeartbeatTtl + kNameRetry)) {
    name_conflict_logged_ = true;
    context_.log->error(
        "trigger {}: consumer name {} of list {} is in use by another live process; this one "
        "takes nothing from {} (source down, /readyz 503) until that process stops. Give each "
        "process its own `consumer`",
        context_.trigger, consumer_, config_.list, config_.list);
  }
  co_await drain_.sleep(sleep_timer_, kNameRetry);
}

asio::awaitable<void> RedisListSource::run(EventSink& sink) {
  drain_.spawn("ack loop", acks_.run());
  drain_.spawn("keeper loop", keeper_loop());
  while (!drain_.stopped()) {
    if (!reader_.connected() || !owns_name_) {
      reconnect_.lost();
      const Join joined = co_await connect();
      if (joined == Join::kNameTaken) {
        co_await name_taken();
        continue;
      }
      if (joined == Join::kFailed) {
        co_await reconnect_.failed(sleep_timer_, drain_.stopped());
        continue;
      }
      if (name_conflict_logged_) {
        context_.log->info("trigger {}: consumer name {} of list {} is free again",
                           context_.trigger, consumer_, config_.list);
      }
      name_taken_since_.reset();
      name_conflict_logged_ = false;
      reconnect_.connected();
      context_.log->info("trigger {}: taking items of list {} into {} on redis {}",
                         context_.trigger, config_.list, processing_, context_.connection);
    }
    co_await sink.wait_for_room();
    if (drain_.stopped()) break;
    // What a crash now would deliver again: items in flight, and finished ones whose LREM
    // has not completed. Kept within max_inflight.
    const std::size_t unremoved = inflight_.size() + acks_.owed();
    if (!sink.has_room() || unremoved >= max_inflight_) {
      // Woken as soon as LREMs complete; the 10 ms only bound the wait should a wake-up be
      // missed (a plain 10 ms sleep here held every freed slot idle for up to 10 ms).
      co_await drain_.sleep(bound_wake_, 10ms);
      continue;
    }
    const std::size_t room = max_inflight_ - unremoved;
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
  context_.state.set_source_up(false);
  reader_.close();
  // The events still in flight finish after the stop, and their LREMs go out as they do (the
  // heartbeat goes on too, so no other consumer takes our items meanwhile), until close()
  // says when to be done.
  const std::size_t left = co_await drain_.closed();
  acks_.client().close();  // ends an LREM still waiting for its reply
  co_await release_name();
  keeper_.close();
  co_await drain_.reap(left);
}

asio::awaitable<void> RedisListSource::release_name() {
  if (!owns_name_ || !keeper_.connected() ||
      std::chrono::steady_clock::now() >= drain_.deadline()) {
    co_return;
  }
  Reply released = co_await keeper_.command(
      args("EVAL", kReleaseName, "1", heartbeat_, name_token_), drain_.bounded(kCommandTimeout));
  if (released.error()) {
    context_.log->debug("trigger {}: consumer name {} not released ({}); it expires within {} s",
                        context_.trigger, consumer_, released.describe(),
                        std::chrono::seconds(kHeartbeatTtl).count());
  }
  owns_name_ = false;
}

asio::awaitable<void> RedisListSource::take_one(EventSink& sink) {
  Reply reply = co_await reader_.command(
      args("BLMOVE", config_.list, processing_, "RIGHT", "LEFT", std::to_string(kBlock.count())),
      kBlock + kCommandTimeout);
  if (reply.failed()) {
    drain_.count_read_failure();
    co_return;  // the loop reconnects
  }
  if (reply.nil()) co_return;  // nothing new
  if (!submit(sink, reply)) co_await drain_.sleep(sleep_timer_, 1s);
}

asio::awaitable<std::size_t> RedisListSource::take_batch(EventSink& sink, std::size_t count) {
  // LMOVE does not block: once the list is empty the rest of the batch answers nil. Each item
  // still moves atomically into our processing list, in the list's order.
  std::vector<std::vector<std::string>> commands(
      count, args("LMOVE", config_.list, processing_, "RIGHT", "LEFT"));
  std::vector<Reply> replies = co_await reader_.pipeline(std::move(commands), kCommandTimeout);
  std::size_t taken = 0;
  for (Reply& reply : replies) {
    if (reply.failed()) {
      drain_.count_read_failure();
      break;  // the loop reconnects
    }
    if (reply.nil()) break;  // the list is empty
    if (!submit(sink, reply)) {
      co_await drain_.sleep(sleep_timer_, 1s);
      break;
    }
    ++taken;
  }
  co_return taken;
}

bool RedisListSource::submit(EventSink& sink, Reply& reply) {
  if (reply.type != Reply::Type::kString) {
    context_.state.count_source_error(SourceError::kCommand);
    context_.log->warn("trigger {}: taking an item from {} failed: {}", context_.trigger,
                       config_.list, reply.describe());
    return false;
  }
  std::string item = reply.str;
  Event event = make_list_event(context_.connection, config_.list, std::move(reply.str));
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
  if (outcome != Outcome::abandoned) acks_.add(std::move(it->second));
  inflight_.erase(it);
}

void RedisListSource::written(std::vector<std::string>& /*acknowledged*/) {
  bound_wake_.cancel();  // the LREMs under way no longer count against the bound
}

std::string RedisListSource::describe_write(std::size_t items) const {
  return fmt::format("LREM of {} item(s) from {}", items, processing_);
}

std::string RedisListSource::describe_unwritten(std::size_t items) const {
  return fmt::format(
      "{} item(s) not removed from {} by the shutdown deadline; they will be delivered again",
      items, processing_);
}

asio::awaitable<void> RedisListSource::keeper_loop() {
  int failures = 0;
  int turn = 0;
  const std::string consumers = consumers_key(config_.list);
  const std::string ttl = std::to_string(std::chrono::milliseconds(kHeartbeatTtl).count());
  while (!drain_.closing()) {
    bool connected = keeper_.connected();
    if (!connected) connected = co_await keeper_.connect(kConnectTimeout);
    if (!connected) {
      context_.state.count_source_error(SourceError::kConnect);
      ++failures;
    } else {
      // Renewed only once the reader has taken the name: the keeper never takes it itself.
      const bool renewing = owns_name_;
      std::vector<std::vector<std::string>> commands;
      commands.push_back(args("LLEN", config_.list));
      if (renewing) {
        commands.push_back(
            args("EVAL", kClaimName, "2", heartbeat_, consumers, name_token_, ttl, consumer_));
      }
      commands.push_back(args("SMEMBERS", consumers));
      std::vector<Reply> replies = co_await keeper_.pipeline(std::move(commands), kCommandTimeout);
      if (replies[0].type == Reply::Type::kInteger) {
        failures = 0;
        depth_.publish(replies[0].integer);
      } else {
        context_.state.count_source_error(SourceError::kCommand);
        ++failures;
      }
      if (renewing && owns_name_ && read_claim(replies[1]).answered &&
          !read_claim(replies[1]).claimed) {
        // Expired while we were cut off from Redis, and taken by another process since: our
        // processing list is its now. Take nothing more until the name is ours again.
        owns_name_ = false;
        context_.state.count_source_error(SourceError::kCommand);
        context_.log->error(
            "trigger {}: consumer name {} of list {} was taken by another process while this "
            "one could not renew it; items this one holds may be delivered again",
            context_.trigger, consumer_, config_.list);
        reader_.close();
      }
      if (failures == 0) co_await count_backlog_total(std::move(replies.back()));
      if (failures == 0 && owns_name_ && !drain_.stopped() && ++turn % kRecoveryEvery == 0) {
        co_await recover_dead_consumers();
      }
    }
    const std::chrono::milliseconds delay =
        failures > 0 ? reconnect_delay(failures) : std::chrono::milliseconds(kKeeperInterval);
    co_await drain_.sleep(keeper_timer_, delay);
  }
}

asio::awaitable<void> RedisListSource::count_backlog_total(Reply members) {
  // Every consumer in the set, live or dead: a dead one's items are unfinished too, and go
  // back to the list once a live consumer notices (recover_dead_consumers).
  std::vector<std::string> command;
  if (members.type == Reply::Type::kArray) {
    command = args("EVAL", kCountItems, std::to_string(members.elements.size() + 1), config_.list);
    for (const Reply& member : members.elements) {
      command.push_back(processing_key(config_.list, member.str));
    }
  }
  Reply counted;
  if (!command.empty()) counted = co_await keeper_.command(std::move(command), kCommandTimeout);
  if (counted.type == Reply::Type::kInteger) {
    context_.state.set_backlog_total(counted.integer);
    if (backlog_count_failing_) {
      context_.log->info("trigger {}: counting the items of list {} again", context_.trigger,
                         config_.list);
    }
    backlog_count_failing_ = false;
    co_return;
  }
  context_.state.count_source_error(SourceError::kCommand);
  if (!backlog_count_failing_) {
    context_.log->warn(
        "trigger {}: cannot count the items of list {} and its processing lists ({}); "
        "backlog_total keeps its last value",
        context_.trigger, config_.list,
        members.type == Reply::Type::kArray ? counted.describe() : members.describe());
  }
  backlog_count_failing_ = true;
}

asio::awaitable<void> RedisListSource::recover_dead_consumers() {
  const std::string consumers = consumers_key(config_.list);
  Reply members = co_await keeper_.command(args("SMEMBERS", consumers), kCommandTimeout);
  if (members.error()) {
    context_.state.count_source_error(SourceError::kCommand);
    co_return;
  }
  for (const Reply& member : members.elements) {
    if (member.str == consumer_ || drain_.stopped() || drain_.closing()) continue;
    Reply alive = co_await keeper_.command(args("EXISTS", heartbeat_key(config_.list, member.str)),
                                           kCommandTimeout);
    if (alive.type != Reply::Type::kInteger || alive.integer != 0) continue;
    context_.log->info("trigger {}: consumer {} of list {} has no heartbeat; returning its items",
                       context_.trigger, member.str, config_.list);
    const bool returned = co_await return_items(keeper_, processing_key(config_.list, member.str));
    if (returned) {
      co_await keeper_.command(args("SREM", consumers, member.str), kCommandTimeout);
    }
  }
}

}  // namespace triggerd::redis
