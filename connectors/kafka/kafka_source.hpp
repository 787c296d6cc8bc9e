#pragma once
// The `kafka` source (SPEC sections 2, 3 and 6): one librdkafka consumer per trigger, in the
// trigger's `group`. librdkafka is driven by a thread of its own (polling, rebalances,
// commits), never by the event loop. The loop only hands waiting messages to the trigger and
// takes their outcomes; the two share the bookkeeping under a mutex.
//
// At least once: offsets are committed by triggerd (auto commit off), per partition only up
// to the first unfinished message, with the finished ones past it in the commit's metadata
// (kafka_commit_metadata.hpp). Commits are asynchronous, one in flight at a time, and under
// load they wait for a batch (kafka_commit_pace.hpp); what a crash would deliver again (events
// in flight, and finished ones whose commit is not confirmed yet) is kept within max_inflight.
//
// Memory (kafka_prefetch.hpp): fetched messages go to a queue of the source's own rather than
// the consumer's, and the poll thread takes from it only while the source's buffer has room,
// so librdkafka stops fetching at its prefetch limits; the consumer's queue (rebalances,
// errors) is polled all the time, so a member whose trigger is full stays in its group.
//
// Rebalance: a revoke stops starting events of the partitions it takes away, waits (bounded)
// for those in flight to finish, and commits them before it lets the partitions go, so that
// a replica joining or leaving the group does not have events delivered twice.
//
// Drain: stop_taking() pauses every assigned partition while polling and committing go on, so
// events still in flight finish, are committed as they finish, and no other member takes the
// partitions meanwhile; close() commits what finished last, waits for the result, and leaves
// the group, all by its deadline.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "connectors/kafka/kafka_offsets.hpp"
#include "connectors/kafka/kafka_ordering.hpp"
#include "connectors/kafka/kafka_prefetch.hpp"
#include "connectors/kafka/log_throttle.hpp"
#include "connectors/source.hpp"

struct rd_kafka_s;
struct rd_kafka_message_s;
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
  using Clock = std::chrono::steady_clock;

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
  // The commit awaiting its result (poll thread only).
  struct PendingCommit {
    std::uint64_t id;
    Clock::time_point sent_at;
  };

  void acknowledge(std::uint64_t token, Outcome outcome) override;

  // On the io_context: hands waiting messages to the sink, as room, the redelivery bound and
  // the ordering allow. Returns how many it handed over.
  std::size_t pump(EventSink& sink);
  // Under mutex_: the next message the ordering lets start, round robin over partitions.
  std::optional<Message> next_startable();
  // From any thread: wakes run() to pump again (coalesced: one post at a time).
  void wake_pump();
  // From any thread, librdkafka's queue callbacks included (it calls no librdkafka function):
  // wakes the poll thread out of wait_for_work().
  void wake_poll();
  // The poll thread's only wait: until wake_poll() or `timeout`.
  void wait_for_work(std::chrono::milliseconds timeout);

  // The poll thread and what it calls.
  void poll_thread_main();
  void poll_until_closed();
  void finish_polling();
  bool create_consumer();
  // Takes what fits in the buffer from the messages queue; true when more is waiting there.
  bool read_messages();
  // Has librdkafka fetch again at once after its queue reached its limits.
  void restart_fetching();
  void take_messages(const rd_kafka_message_s* const* messages, std::size_t count);
  void consumer_event(const rd_kafka_message_s& message);
  void rebalance(rd_kafka_s* consumer, int error, rd_kafka_topic_partition_list_s* partitions);
  void preset_from_committed(rd_kafka_s* consumer, rd_kafka_topic_partition_list_s* partitions);
  void route_to_messages_queue(rd_kafka_s* consumer,
                               const rd_kafka_topic_partition_list_s* partitions);
  void pause_for_drain(rd_kafka_topic_partition_list_s* partitions);
  // Under mutex_: whether finished events are to be committed now rather than wait for more
  // (kafka_commit_pace.hpp).
  bool commit_wanted(Clock::duration since_last_commit) const;
  // Sends what changed when a commit is due (everything, now and then), unless a commit is out
  // or backing off.
  void commit_changes(Clock::time_point now);
  void send_commit(const std::vector<OffsetTracker::Commit>& commits);
  void commit_result(std::uint64_t id, int error, rd_kafka_topic_partition_list_s* offsets);
  void commit_failed(int error);
  // Serves commit results until none is out or `deadline`.
  void await_commit(Clock::time_point deadline);
  // Before partitions go to another member: their events in flight finish (bounded), and
  // what finished in them is committed and confirmed (bounded).
  void wait_for_in_flight(const std::vector<TopicPartition>& partitions);
  void commit_before_revoke(const std::vector<TopicPartition>& partitions);
  // The last commit: sent, and sent again after a failure, until confirmed or `deadline`.
  void flush_commits(Clock::time_point deadline);
  void close_consumer(Clock::time_point deadline);
  void destroy_consumer(Clock::time_point deadline);
  // When a bounded wait must end: now + `limit`, or the close deadline if that comes first.
  Clock::time_point bounded(Clock::duration limit) const;

  // The depth thread: watermark queries wait on the network, so they get a thread (and a
  // librdkafka handle) of their own rather than holding up polling and commits.
  void depth_loop();
  void refresh_depth();
  void stop_depth_thread();

  boost::asio::any_io_executor executor_;
  const std::string trigger_name_;
  const std::string connection_name_;
  const config::KafkaConnection& connection_;
  const config::KafkaSource& config_;
  const std::string group_;
  const std::size_t max_inflight_;
  const PrefetchLimits limits_;
  // How long a revoke may wait for the events in flight in its partitions (set from the
  // consumer's max.poll.interval.ms when it is made).
  std::chrono::milliseconds revoke_wait_limit_{};
  TriggerState& state_;
  std::shared_ptr<spdlog::logger> log_;
  // Never expires: cancelled to wake run() (new messages, an ordering slot or room freed, the
  // poll thread gone).
  boost::asio::steady_timer wake_;
  std::atomic<bool> wake_posted_{false};
  bool poll_ended_ = false;  // io_context only

  rd_kafka_s* consumer_ = nullptr;
  rd_kafka_queue_s* queue_ = nullptr;     // the consumer's queue: rebalances, errors
  rd_kafka_queue_s* messages_ = nullptr;  // every assigned partition's messages
  rd_kafka_queue_s* commit_results_ = nullptr;
  rd_kafka_s* watermarks_ = nullptr;  // depth thread only
  std::thread poll_thread_;
  std::thread depth_thread_;

  // The drain, as the io_context asks for it.
  std::atomic<bool> taking_stopped_{false};
  std::atomic<bool> closing_{false};
  std::atomic<Clock::rep> close_deadline_{Clock::time_point::max().time_since_epoch().count()};
  // The poll thread's wake-ups: librdkafka's queues call back when they go from empty to not
  // empty, and the event loop when there is room again, a commit to send, or a drain step.
  std::mutex poll_mutex_;
  std::condition_variable poll_wake_;
  bool poll_woken_ = false;  // under poll_mutex_
  std::atomic<bool> poll_wake_pending_{false};

  std::atomic<std::int64_t> depth_{-1};
  std::mutex depth_mutex_;
  std::condition_variable depth_stop_;
  bool depth_stopping_ = false;  // under depth_mutex_

  // Poll thread only.
  std::optional<PendingCommit> commit_out_;
  std::uint64_t next_commit_id_ = 1;
  Clock::time_point commit_retry_at_{};
  Clock::time_point next_recommit_{};
  Clock::time_point last_commit_sent_{};
  bool drain_paused_ = false;
  // librdkafka's queue reached (about) its limits since the last restart_fetching().
  bool fetch_restart_due_ = false;
  std::size_t fetch_queue_messages_ = 0;   // queued.min.messages
  std::size_t fetch_queue_bytes_ = 0;      // queued.max.messages.kbytes, in bytes
  std::size_t average_message_bytes_ = 0;  // of the last messages taken
  LogThrottle commit_failure_log_;

  // Shared between the poll thread and the io_context.
  mutable std::mutex mutex_;
  OffsetTracker tracker_;
  OrderingGate gate_;
  std::map<TopicPartition, std::deque<Message>> waiting_;  // per partition, in offset order
  std::size_t waiting_count_ = 0;
  std::size_t waiting_bytes_ = 0;
  // The poll thread stopped taking from librdkafka because the buffer was full.
  bool buffer_full_ = false;
  // Room for events, yet the ordering lets none of the buffered messages start: the buffer
  // may then hold more messages than usual (within its byte bound), to reach messages of
  // other partitions or keys.
  bool starved_ = false;
  // Being revoked: nothing more of them is taken or started while their events in flight
  // finish.
  std::set<TopicPartition> revoking_;
  std::optional<TopicPartition> last_served_;  // round robin over partitions
  std::unordered_map<std::uint64_t, InFlight> inflight_;
  std::uint64_t next_token_ = 1;
};

}  // namespace kafka
}  // namespace triggerd
