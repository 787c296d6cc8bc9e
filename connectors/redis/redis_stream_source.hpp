#pragma once
// The `redis-stream` source (SPEC sections 2, 3 and 6): a consumer group member that
//   - creates the group when it is missing (XGROUP CREATE ... MKSTREAM),
//   - first re-delivers its own pending entries (XREADGROUP ... 0, a restart after a crash),
//   - then reads new ones (XREADGROUP ... >, BLOCK on a connection of its own), never more
//     than the trigger has room for,
//   - claims entries idle longer than claim_idle in any consumer (XAUTOCLAIM), so a dead
//     replica's work is finished by the others,
//   - XACKs finished events in batches (all that finished since the last XACK, one command),
//   - reads its depth from XINFO GROUPS `lag` every second.
// Three connections: the blocking reads, the acks and the depth, so none waits for another.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
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

class RedisStreamSource final : public Source, private Acknowledger {
 public:
  // `trigger` (of type redis-stream), `connection` (its redis connection) and `state` must
  // outlive the source.
  RedisStreamSource(boost::asio::any_io_executor executor, const config::Trigger& trigger,
                    const config::Connection& connection, TriggerState& state);
  ~RedisStreamSource() override;

  boost::asio::awaitable<void> run(EventSink& sink) override;
  void stop() override;
  std::optional<std::int64_t> queue_depth() const override;

 private:
  void acknowledge(std::uint64_t token, Outcome outcome) override;

  boost::asio::awaitable<bool> connect();
  boost::asio::awaitable<void> read_once(EventSink& sink);
  boost::asio::awaitable<void> claim(EventSink& sink, std::size_t room);
  // Hands the entries of an XREADGROUP/XAUTOCLAIM array to the sink; returns the last id seen.
  std::string submit_entries(EventSink& sink, const Reply& entries, std::size_t* seen);
  boost::asio::awaitable<void> ack_loop();
  boost::asio::awaitable<void> depth_loop();
  boost::asio::awaitable<void> sleep(boost::asio::steady_timer& timer,
                                     std::chrono::milliseconds delay);
  std::size_t room() const;

  boost::asio::any_io_executor executor_;
  const std::string trigger_name_;
  const std::string connection_name_;
  const std::string address_;
  const config::RedisStreamSource& config_;
  const std::string consumer_;
  const std::size_t max_inflight_;
  const std::chrono::milliseconds claim_interval_;
  TriggerState& state_;
  std::shared_ptr<spdlog::logger> log_;
  RedisClient reader_;
  RedisClient acker_;
  RedisClient depth_reader_;
  boost::asio::steady_timer sleep_timer_;
  boost::asio::steady_timer ack_wake_;
  boost::asio::steady_timer ack_sleep_;
  boost::asio::steady_timer depth_timer_;
  ReaderReconnect reconnect_;  // keeps reader_ up

  bool stopped_ = false;
  bool ack_loop_done_ = false;
  bool depth_loop_done_ = false;
  // Re-read our own pending entries (at start, after a reconnect, after a refused submit).
  bool pending_phase_ = true;
  std::string pending_cursor_ = "0";
  std::string claim_cursor_ = "0-0";
  std::chrono::steady_clock::time_point next_claim_;
  std::uint64_t next_token_ = 1;
  std::unordered_map<std::uint64_t, std::string> inflight_;  // token -> entry id
  // Entries taken and not yet XACKed (in flight or in the ack batch): never handed out twice.
  std::unordered_set<std::string> held_ids_;
  std::vector<std::string> acks_;
  std::atomic<std::int64_t> depth_{-1};
};

}  // namespace redis
}  // namespace triggerd
