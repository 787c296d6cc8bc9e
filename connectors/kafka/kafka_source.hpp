#pragma once
// The `kafka` source (SPEC sections 2, 3 and 6): one librdkafka consumer per trigger, in the
// trigger's `group`. librdkafka is driven by a thread of its own (rd_kafka_consumer_poll,
// rebalances, commits, watermarks), never by the event loop. The loop only hands waiting
// messages to the trigger and takes their outcomes; the two share the bookkeeping under a
// mutex.
//
// At least once: offsets are committed by triggerd (auto commit off), per partition only up
// to the first unfinished message, with the finished ones past it in the commit's metadata
// (kafka_commit_metadata.hpp). One commit is in flight at a time and the next one goes out as
// soon as its result is in, so commits batch themselves under load. What a crash would
// deliver again (events in flight, and finished ones whose commit is not confirmed yet) is
// kept within max_inflight. When the trigger is full the assigned partitions are paused, and
// polling goes on so that the member never leaves the group.
#include <atomic>
#include <chrono>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
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
struct rd_kafka_queue_s;
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
  void stop_taking() override;
  void close(std::chrono::steady_clock::time_point deadline) override;
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
    // Roughly what it holds in memory, for the buffer's bound.
    std::size_t size() const {
      std::size_t total = sizeof(Message) + value.size() + (key ? key->size() : 0);
      for (const auto& [name, text] : headers) total += name.size() + text.size() + 64;
      return total;
    }
  };
  struct InFlight {
    TopicPartition partition;
    std::uint64_t generation;
    std::int64_t offset;
    std::optional<std::string> key;
  };

  void acknowledge(std::uint64_t token, Outcome outcome) override;

  // On the io_context: hands waiting messages to the sink, as room, the redelivery bound and
  // the ordering allow. Returns how many it handed over.
  std::size_t pump(EventSink& sink);
  // Under mutex_: the next message the ordering lets start, round robin over partitions.
  std::optional<Message> next_startable();
  // From any thread: wakes run() to pump again (coalesced: one post at a time).
  void wake_pump();

  // The poll thread and what it calls.
  void poll_loop();
  bool create_consumer();
  void take_messages(void* const* messages, std::size_t count);
  void close_consumer();
  void rebalance(rd_kafka_s* consumer, int error, rd_kafka_topic_partition_list_s* partitions);
  void preset_from_committed(rd_kafka_s* consumer, rd_kafka_topic_partition_list_s* partitions);
  // Sends what changed, unless a commit is in flight already.
  void commit_changes();
  void commit_result(int error, rd_kafka_topic_partition_list_s* offsets);
  // Synchronous: what changed in `only` (a revoke), or everything (nullptr: recommit, stop).
  void commit_now(const std::vector<TopicPartition>* only);
  void pause_or_resume();

  // The depth thread: watermark queries wait on the network, so they get a thread of their
  // own rather than holding up polling and commits.
  void depth_loop();
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
  // Never expires: cancelled to wake run() (new messages, an ordering slot or room freed).
  boost::asio::steady_timer wake_;
  std::atomic<bool> wake_posted_{false};

  rd_kafka_s* consumer_ = nullptr;
  rd_kafka_queue_s* queue_ = nullptr;  // the consumer's queue: messages, rebalances
  rd_kafka_queue_s* commit_results_ = nullptr;
  rd_kafka_s* watermarks_ = nullptr;   // for the depth; depth thread only
  std::thread poll_thread_;
  std::thread depth_thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> poll_done_{false};
  std::atomic<bool> commit_kick_{false};  // an outcome arrived: commit without waiting
  std::atomic<std::int64_t> depth_{-1};
  std::mutex depth_mutex_;
  std::condition_variable depth_stop_;
  // Poll thread only.
  bool paused_ = false;
  bool commit_in_flight_ = false;
  std::chrono::steady_clock::time_point commit_retry_at_{};
  std::chrono::steady_clock::time_point commit_sent_at_{};

  // Shared between the poll thread and the io_context.
  mutable std::mutex mutex_;
  OffsetTracker tracker_;
  OrderingGate gate_;
  std::map<TopicPartition, std::deque<Message>> waiting_;  // per partition, in offset order
  std::size_t waiting_count_ = 0;
  std::size_t waiting_bytes_ = 0;
  std::optional<TopicPartition> last_served_;  // round robin over partitions
  std::unordered_map<std::uint64_t, InFlight> inflight_;
  std::uint64_t next_token_ = 1;
};

}  // namespace kafka
}  // namespace triggerd
