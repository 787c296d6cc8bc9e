#pragma once
// The `redis-list` source (SPEC sections 2, 3 and 6), the reliable-queue pattern:
//   - BLMOVE LIST -> LIST:processing:CONSUMER (atomic: an item is always in one of the two),
//     never more than the trigger has room for;
//   - LREM from the processing list once the event is finished (batched, one round trip);
//   - at start, this consumer's own processing list goes back to the queue (a crash left it);
//   - the heartbeat key LIST:consumer:CONSUMER names the one process that may use CONSUMER's
//     processing list: taken at start only when it is free or already ours (a token unique to
//     this process), renewed every second with a TTL. A second live process with the same
//     consumer name is refused (its source stays down) instead of returning the first one's
//     items to the queue; it takes over once the name is free (released at a stop, or expired
//     after a crash);
//   - the set LIST:consumers lets live consumers return a dead consumer's processing list to
//     the queue once its heartbeat has expired;
//   - depth = LLEN of the list, every second (taken items count as in flight); the backlog
//     total, the same from every replica, = the list's items and those of every consumer's
//     processing list, counted in one step, every second.
// Producers LPUSH; items are taken from the right, so the list is a FIFO.
//
// The drain: stop_taking() ends the takes; LREMs and the heartbeat go on for the events still
// in flight. close() writes the LREMs still owed until its deadline, releases the consumer
// name, closes the connections, and run() returns.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "connectors/redis/redis_ack_writer.hpp"
#include "connectors/redis/redis_client.hpp"
#include "connectors/redis/redis_queue_depth.hpp"
#include "connectors/redis/redis_reconnect.hpp"
#include "connectors/redis/redis_source_context.hpp"
#include "connectors/redis/redis_source_drain.hpp"
#include "connectors/source.hpp"

namespace triggerd::redis {

class RedisListSource final : public Source, private Acknowledger, private AckWriter::Owner {
 public:
  // `trigger` (of type redis-list), `connection` and `state` must outlive the source.
  RedisListSource(boost::asio::any_io_executor executor, const config::Trigger& trigger,
                  const config::Connection& connection, TriggerState& state);
  ~RedisListSource() override;

  boost::asio::awaitable<void> run(EventSink& sink) override;
  void stop_taking() override;
  void close(std::chrono::steady_clock::time_point deadline) override;
  std::optional<std::int64_t> queue_depth() const override;
  void set_max_inflight(int max_inflight) override;

  // The key names, for operators and tests.
  static std::string processing_key(const std::string& list, const std::string& consumer);
  static std::string heartbeat_key(const std::string& list, const std::string& consumer);
  static std::string consumers_key(const std::string& list);

 private:
  enum class Join { kJoined, kFailed, kNameTaken };

  void acknowledge(std::uint64_t token, Outcome outcome) override;
  // AckWriter::Owner: the LREMs.
  void written(std::vector<std::string>& acknowledged) override;
  std::string describe_write(std::size_t items) const override;
  std::string describe_unwritten(std::size_t items) const override;

  // Connects the reader, takes the consumer name and returns what a previous run of this
  // consumer left in its processing list.
  boost::asio::awaitable<Join> connect();
  // The consumer name is held by another process: waits a moment before the next try, and
  // says so (an error once the holder has proven alive by renewing it past its TTL).
  boost::asio::awaitable<void> name_taken();
  // Moves every item of `processing` back to the list; false on a failure.
  boost::asio::awaitable<bool> return_items(RedisClient& client, const std::string& processing);
  // Waits (BLMOVE) for one item and submits it.
  boost::asio::awaitable<void> take_one(EventSink& sink);
  // Takes up to `count` items in one round trip without waiting; how many it took.
  boost::asio::awaitable<std::size_t> take_batch(EventSink& sink, std::size_t count);
  // Makes a taken item an event and submits it; false (logged) when the reply is not an item.
  bool submit(EventSink& sink, Reply& reply);
  // Depth, heartbeat and the recovery of dead consumers' items, until close().
  boost::asio::awaitable<void> keeper_loop();
  // backlog_total: the items of the list and of the processing lists of `members` (SMEMBERS of
  // the consumers set), counted in one step.
  boost::asio::awaitable<void> count_backlog_total(Reply members);
  boost::asio::awaitable<void> recover_dead_consumers();
  // Gives the consumer name up at close, so that a restart (or a standby process with the same
  // name) need not wait for it to expire.
  boost::asio::awaitable<void> release_name();

  const SourceContext context_;
  const config::RedisListSource& config_;
  const std::string consumer_;
  const std::string processing_;
  const std::string heartbeat_;
  // This process's claim on the consumer name, the heartbeat key's value: host, pid and a
  // random part, so that an operator reading the key can tell who holds it.
  const std::string name_token_;
  // Atomic: a reload sets it on the loop, and other threads may read it.
  std::atomic<std::size_t> max_inflight_;
  SourceDrain drain_;  // the ack and keeper loops, and where the drain is
  RedisClient reader_;
  RedisClient keeper_;
  AckWriter acks_;  // the LREMs, on a connection of their own
  boost::asio::steady_timer sleep_timer_;
  // The reading loop waits on it while the redelivery bound is reached; the ack writer wakes
  // it as soon as a batch of LREMs has completed (which is what frees room under the bound).
  boost::asio::steady_timer bound_wake_;
  boost::asio::steady_timer keeper_timer_;
  ReaderReconnect reconnect_;  // keeps reader_ up
  // The heartbeat key holds our token, as far as we know: the processing list is ours.
  bool owns_name_ = false;
  // Since when the name has been refused in a row, and whether that was logged as a conflict.
  std::optional<std::chrono::steady_clock::time_point> name_taken_since_;
  bool name_conflict_logged_ = false;
  // The holder's heartbeat TTL at the last refused try (-1: none) and when that was, and
  // whether it has run down slower than the clock since, which only a renewal does.
  long long holder_ttl_ = -1;
  std::chrono::steady_clock::time_point holder_seen_at_;
  bool holder_renewed_ = false;
  std::uint64_t next_token_ = 1;
  std::unordered_map<std::uint64_t, std::string> inflight_;  // token -> item
  // The size of the next batch of LMOVEs, at most the free slots: doubled while batches come
  // back full (a backlog), back to 2 when one does not (the list ran dry), so that a trickle
  // of items does not cost a pipeline of empty LMOVEs per item.
  std::size_t next_batch_ = 2;
  QueueDepth depth_;
  bool backlog_count_failing_ = false;  // logged once per run of failed counts
};

}  // namespace triggerd::redis
