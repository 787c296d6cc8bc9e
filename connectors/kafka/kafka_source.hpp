#pragma once
// The `kafka` source (SPEC sections 2, 3 and 6): one librdkafka consumer per trigger, in the
// trigger's `group`. librdkafka is driven by a thread of its own (rd_kafka_consumer_poll,
// rebalances, commits, watermarks), never by the event loop. The loop only hands waiting
// messages to the trigger and takes their outcomes; the two share the bookkeeping under a
// mutex.
//
// At least once: offsets are committed by triggerd (auto commit off), batched every 500 ms
// and on revoke and stop, and per partition only up to the first unfinished message.
// When the trigger is full the assigned partitions are paused, and polling goes on so that
// the member never leaves the group.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "connectors/kafka/kafka_offsets.hpp"
#include "connectors/kafka/kafka_ordering.hpp"
#include "connectors/source.hpp"

struct rd_kafka_s;
struct rd_kafka_topic_partition_list_s;

namespace spdlog {
class logger;
}

namespace triggerd {

class TriggerState;

namespace kafka {

class KafkaSource final : public Source, private Acknowledger {
 public:
  // `trigger` (of type kafka), `connection` (its kafka connection) and `state` must outlive
  // the source.
  KafkaSource(boost::asio::any_io_executor executor, const config::Trigger& trigger,
              const config::Connection& connection, TriggerState& state);
  ~KafkaSource() override;

  boost::asio::awaitable<void> run(EventSink& sink) override;
  void stop() override;
  std::optional<std::int64_t> queue_depth() const override;

 private:
  // A polled message, copied out of librdkafka's buffers.
  struct Message {
    TopicPartition partition;
    std::uint64_t generation = 0;
    std::int64_t offset = 0;
    std::optional<std::string> key;
    std::string value;
    std::optional<std::int64_t> timestamp_ms;
    std::vector<std::pair<std::string, std::string>> headers;
  };
  struct InFlight {
    TopicPartition partition;
    std::uint64_t generation;
    std::int64_t offset;
    std::optional<std::string> key;
  };

  void acknowledge(std::uint64_t token, Outcome outcome) override;

  // On the io_context: hands waiting messages to the sink, as room and ordering allow.
  std::size_t pump(EventSink& sink);

  // The poll thread and what it calls.
  void poll_loop();
  bool create_consumer();
  void take_message(rd_kafka_s* consumer, const void* message);
  void rebalance(rd_kafka_s* consumer, int error, rd_kafka_topic_partition_list_s* partitions);
  void commit(bool synchronous, const std::vector<TopicPartition>* only, bool all = false);
  void pause_or_resume();
  void refresh_depth();

  boost::asio::any_io_executor executor_;
  const std::string trigger_name_;
  const std::string connection_name_;
  const config::KafkaConnection& connection_;
  const config::KafkaSource& config_;
  const std::string group_;
  const std::size_t max_inflight_;
  TriggerState& state_;
  std::shared_ptr<spdlog::logger> log_;
  boost::asio::steady_timer timer_;

  rd_kafka_s* consumer_ = nullptr;
  rd_kafka_s* watermarks_ = nullptr;  // for the depth; poll thread only
  std::thread poll_thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> poll_done_{false};
  std::atomic<std::int64_t> depth_{-1};
  bool paused_ = false;  // poll thread only

  // Shared between the poll thread and the io_context.
  mutable std::mutex mutex_;
  OffsetTracker tracker_;
  OrderingGate gate_;
  std::deque<Message> waiting_;
  std::unordered_map<std::uint64_t, InFlight> inflight_;
  std::uint64_t next_token_ = 1;
};

}  // namespace kafka
}  // namespace triggerd
