#pragma once
// The `redis-list` source (SPEC sections 2, 3 and 6), the reliable-queue pattern:
//   - BLMOVE LIST -> LIST:processing:CONSUMER (atomic: an item is always in one of the two),
//     never more than the trigger has room for;
//   - LREM from the processing list once the event is finished (batched, one round trip);
//   - at start, this consumer's own processing list goes back to the queue (a crash left it);
//   - a heartbeat key LIST:consumer:CONSUMER with a TTL, and the set LIST:consumers, let live
//     consumers return a dead consumer's processing list to the queue;
//   - depth = LLEN of the list, every second (taken items count as in flight).
// Producers LPUSH; items are taken from the right, so the list is a FIFO.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "connectors/redis/redis_client.hpp"
#include "connectors/redis/redis_reconnect.hpp"
#include "connectors/source.hpp"

namespace spdlog {
class logger;
}

namespace triggerd {

class TriggerState;

namespace redis {

class RedisListSource final : public Source, private Acknowledger {
 public:
  // `trigger` (of type redis-list), `connection` and `state` must outlive the source.
  RedisListSource(boost::asio::any_io_executor executor, const config::Trigger& trigger,
                  const config::Connection& connection, TriggerState& state);
  ~RedisListSource() override;

  boost::asio::awaitable<void> run(EventSink& sink) override;
  void stop_taking() override;
  void close(std::chrono::steady_clock::time_point deadline) override;
  std::optional<std::int64_t> queue_depth() const override;

  // The key names, for operators and tests.
  static std::string processing_key(const std::string& list, const std::string& consumer);
  static std::string heartbeat_key(const std::string& list, const std::string& consumer);
  static std::string consumers_key(const std::string& list);

 private:
  void acknowledge(std::uint64_t token, Outcome outcome) override;

  boost::asio::awaitable<bool> connect();
  // Moves every item of `processing` back to the list; false on a connection failure.
  boost::asio::awaitable<bool> return_items(RedisClient& client, const std::string& processing);
  // Waits (BLMOVE) for one item and submits it.
  boost::asio::awaitable<void> take_one(EventSink& sink);
  // Takes up to `count` items in one round trip without waiting; how many it took.
  boost::asio::awaitable<std::size_t> take_batch(EventSink& sink, std::size_t count);
  // Makes a taken item an event and submits it; false (logged) when the reply is not an item.
  bool submit(EventSink& sink, Reply& reply);
  boost::asio::awaitable<void> ack_loop();
  boost::asio::awaitable<void> keeper_loop();
  boost::asio::awaitable<void> sleep(boost::asio::steady_timer& timer,
                                     std::chrono::milliseconds delay);

  boost::asio::any_io_executor executor_;
  const std::string trigger_name_;
  const std::string connection_name_;
  const std::string address_;
  const config::RedisListSource& config_;
  const std::string consumer_;
  const std::string processing_;
  const std::size_t max_inflight_;
  TriggerState& state_;
  std::shared_ptr<spdlog::logger> log_;
  RedisClient reader_;
  RedisClient acker_;
  RedisClient keeper_;
  boost::asio::steady_timer sleep_timer_;
  boost::asio::steady_timer ack_wake_;
  // The reading loop waits on it while the redelivery bound is reached; the ack loop wakes it
  // as soon as a batch of LREMs has completed (which is what frees room under the bound).
  boost::asio::steady_timer bound_wake_;
  boost::asio::steady_timer ack_sleep_;
  boost::asio::steady_timer keeper_timer_;
  ReaderReconnect reconnect_;  // keeps reader_ up

  bool stopped_ = false;
  bool ack_loop_done_ = false;
  bool keeper_loop_done_ = false;
  std::uint64_t next_token_ = 1;
  std::unordered_map<std::uint64_t, std::string> inflight_;  // token -> item
  std::vector<std::string> acks_;                            // items to LREM
  std::size_t removing_ = 0;                                  // items in the LREM under way
  // The size of the next batch of LMOVEs, at most the free slots: doubled while batches come
  // back full (a backlog), back to 2 when one does not (the list ran dry), so that a trickle
  // of items does not cost a pipeline of empty LMOVEs per item.
  std::size_t next_batch_ = 2;
  std::atomic<std::int64_t> depth_{-1};
};

}  // namespace redis
}  // namespace triggerd
