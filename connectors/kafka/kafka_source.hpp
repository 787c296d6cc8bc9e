#pragma once
// The `kafka` source (SPEC sections 2, 3 and 6): one librdkafka consumer per trigger, in the
// trigger's `group`. Two parts, on two threads:
//
// - Messages, on the event loop. Each assigned partition keeps a librdkafka queue of its own
//   (forwarded nowhere); when one goes from empty to not empty librdkafka writes the
//   partition's number to a pipe the loop watches. The loop takes messages from the queue of
//   a partition whose next event may start (room, the redelivery bound, the ordering), in
//   batches, and hands them to the trigger without copying their values: the event lends the
//   bytes in librdkafka's fetch buffer and destroys the message when it ends. Outcomes come
//   back on the loop too. No thread hand-off per message, and an outcome starts what may
//   start next (with `ordering: partition`, its partition's next event) in the same handler.
// - The group, on a thread of its own: rebalances and errors (the consumer's queue), commits
//   and their results, the drain's pause, leaving the group. A rebalance may wait (bounded)
//   for events in flight and for a commit, which the event loop must never do; in steady state
//   this thread sleeps, woken when a commit is due. It and librdkafka's threads run in
//   SCHED_BATCH (core/background_thread.hpp): their wake-ups never preempt the loop.
//
// The two share the bookkeeping (offsets, ordering, readers) under a mutex, held briefly.
//
// At least once: offsets are committed by triggerd (auto commit off), per partition only up
// to the first unfinished message, with the finished ones past it in the commit's metadata
// (kafka_commit_metadata.hpp). Commits are asynchronous, one in flight at a time, and under
// load they wait for a batch (kafka_commit_pace.hpp); what a crash would deliver again (events
// in flight, and finished ones whose commit is not confirmed yet) is kept within max_inflight.
//
// Memory (kafka_prefetch.hpp): librdkafka stops fetching a partition at its queue's limits,
// set from max_inflight; the loop takes from a queue only what may start soon, so nothing is
// paused for backpressure and the member always stays in its group.
//
// Rebalance: a revoke stops starting events of the partitions it takes away, waits (bounded)
// for those in flight to finish, and commits them before it lets the partitions go, so that
// a replica joining or leaving the group does not have events delivered twice.
//
// Drain: stop_taking() pauses every assigned partition while committing goes on, so events
// still in flight finish, are committed as they finish, and no other member takes the
// partitions meanwhile; close() commits what finished last, waits for the result, and leaves
// the group, all by its deadline.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
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
#include "connectors/kafka/kafka_commit_pace.hpp"
#include "connectors/kafka/kafka_offsets.hpp"
#include "connectors/kafka/kafka_ordering.hpp"
#include "connectors/kafka/kafka_prefetch.hpp"
#include "connectors/kafka/kafka_queue_reader.hpp"
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
  void set_max_inflight(int max_inflight) override;

 private:
  using Clock = std::chrono::steady_clock;

  struct MessageDestroyer {
    void operator()(rd_kafka_message_s* message) const;
  };
  using MessagePtr = std::unique_ptr<rd_kafka_message_s, MessageDestroyer>;

  // An assigned partition as the event loop reads it (under mutex_).
  struct PartitionReader {
    TopicPartition partition;
    std::uint64_t generation = 0;
    std::uint32_t id = 0;                // what its queue writes to the wake-up pipe
    rd_kafka_queue_s* queue = nullptr;   // the partition's own, forwarded nowhere
    bool readable = true;                // its queue may hold messages
    std::deque<MessagePtr> taken;        // taken from the queue, not started yet
    // librdkafka's queue for it reached (about) a fetch limit since it last ran dry.
    bool fetch_restart_due = false;
  };
  struct InFlight {
    TopicPartition partition;
    std::uint64_t generation;
    std::int64_t offset;
    std::optional<std::string> key;  // with `ordering: key` only
  };
  // The commit awaiting its result (group thread only).
  struct PendingCommit {
    std::uint64_t id;
    Clock::time_point sent_at;
  };

  void acknowledge(std::uint64_t token, Outcome outcome) override;

  // On the event loop. Hands startable messages to the sink, as room, the redelivery bound
  // and the ordering allow; returns how many.
  std::size_t pump(EventSink& sink);
  // pump() from run() or from an outcome, never nested; an exception is logged and counted.
  std::size_t pump_guarded(EventSink& sink);
  // Under mutex_: the next message the ordering lets start, round robin over partitions,
  // taking from librdkafka's queues as needed.
  MessagePtr next_startable(PartitionReader*& from);
  // Under mutex_: moves up to `limit` messages from the reader's queue to its `taken` list.
  void take_from_queue(PartitionReader& reader, std::size_t limit);
  // Has librdkafka fetch the partition again at once (see fetch_restart_due).
  void restart_fetching(const PartitionReader& reader);
  Event make_event(MessagePtr message, std::uint64_t token);
  // Reads partition numbers off the wake-up pipe as librdkafka writes them.
  void watch_wake_pipe();
  // From any thread: wakes run() to pump again (coalesced: one post at a time).
  void wake_pump();
  bool open_wake_pipe();

  // From any thread, librdkafka's queue callbacks included (it calls no librdkafka function):
  // wakes the group thread out of wait_for_work().
  void wake_group_thread();
  // The group thread's only wait: until wake_group_thread() or `timeout`.
  void wait_for_work(std::chrono::milliseconds timeout);

  // The group thread and what it calls.
  void group_thread_main();
  void serve_group_until_closed();
  void finish_group();
  bool create_consumer();
  void consumer_event(const rd_kafka_message_s& message);
  void rebalance(rd_kafka_s* consumer, int error, rd_kafka_topic_partition_list_s* partitions);
  void preset_from_committed(rd_kafka_s* consumer, rd_kafka_topic_partition_list_s* partitions);
  // Gives each partition a reader of its own queue (before fetching starts).
  void add_readers(rd_kafka_s* consumer, const rd_kafka_topic_partition_list_s* partitions);
  // Under mutex_: takes the readers of `partitions` (nullptr: all) away from the event loop.
  std::vector<std::unique_ptr<PartitionReader>> take_readers(
      const std::vector<TopicPartition>* partitions);
  // Outside mutex_: stops their wake-ups and lets go of their queues and what they had taken.
  void close_readers(std::vector<std::unique_ptr<PartitionReader>>& readers);
  void pause_for_drain(rd_kafka_topic_partition_list_s* partitions);
  // Under mutex_: whether finished events are to be committed now rather than wait for more
  // (kafka_commit_pace.hpp).
  bool commit_wanted(Clock::duration since_last_commit) const;
  CommitState commit_state(Clock::duration since_last_commit) const;
  Clock::duration since_last_commit(Clock::time_point now) const;
  // Group thread: no commit awaits its result any more.
  void clear_commit_out();
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

  // The depth thread: the queries of the queue's offsets (the depth, the backlog total) wait on
  // the network, so they get a thread (and a librdkafka client) of their own rather than
  // holding up the group thread.
  void depth_loop();
  void refresh_depth();
  // Counted, and logged at most once per kQueueReadLogInterval; `failure` defaults to the
  // reader's last error.
  void queue_read_failed(std::string failure = "");
  bool depth_stopping();
  void stop_depth_thread();

  boost::asio::any_io_executor executor_;
  const std::string trigger_name_;
  const std::string connection_name_;
  const config::KafkaConnection& connection_;
  const config::KafkaSource& config_;
  const std::string group_;
  // Atomic: a reload sets it on the loop, and other threads may read it.
  std::atomic<std::size_t> max_inflight_;
  const PrefetchLimits limits_;
  // How long a revoke may wait for the events in flight in its partitions (set from the
  // consumer's max.poll.interval.ms when it is made).
  std::chrono::milliseconds revoke_wait_limit_{};
  TriggerState& state_;
  std::shared_ptr<spdlog::logger> log_;
  // Never expires: cancelled to wake run() (messages arrived, an ordering slot or room freed,
  // a commit confirmed, the group thread gone).
  boost::asio::steady_timer wake_;
  std::atomic<bool> wake_posted_{false};
  bool group_ended_ = false;  // event loop only
  // run()'s sink while it runs, for outcomes to start the next events with (event loop only).
  EventSink* sink_ = nullptr;
  bool pumping_ = false;  // event loop only
  // The wake-up pipe: librdkafka writes a reader's id to it when that partition's queue goes
  // from empty to not empty; the loop reads it.
  int wake_pipe_write_ = -1;
  std::unique_ptr<boost::asio::posix::stream_descriptor> wake_pipe_;

  rd_kafka_s* consumer_ = nullptr;
  rd_kafka_queue_s* queue_ = nullptr;  // the consumer's queue: rebalances, errors
  rd_kafka_queue_s* commit_results_ = nullptr;
  std::unique_ptr<QueueReader> queue_reader_;  // made before the depth thread, then its own
  std::thread group_thread_;
  std::thread depth_thread_;

  // The drain, as the event loop asks for it.
  std::atomic<bool> taking_stopped_{false};
  std::atomic<bool> closing_{false};
  std::atomic<Clock::rep> close_deadline_{Clock::time_point::max().time_since_epoch().count()};
  // The group thread's wake-ups: librdkafka's queues call back when they go from empty to not
  // empty, and the event loop when a commit is due or a drain step.
  std::mutex group_mutex_;
  std::condition_variable group_wake_;
  bool group_woken_ = false;  // under group_mutex_
  std::atomic<bool> group_wake_pending_{false};

  std::atomic<std::int64_t> depth_{-1};
  std::mutex depth_mutex_;
  std::condition_variable depth_stop_;
  bool depth_stopping_ = false;  // under depth_mutex_
  // Depth thread only.
  LogThrottle queue_read_log_;
  bool queue_read_failing_ = false;

  // Written by the group thread, read by the event loop's outcomes.
  std::atomic<bool> commit_in_flight_{false};  // commit_out_ is set
  std::atomic<Clock::rep> last_commit_sent_{0};
  // Under mutex_: the group thread waits kBoundPace rather than kGroupWakeInterval.
  bool group_sleeps_short_ = false;

  // Group thread only.
  std::optional<PendingCommit> commit_out_;
  std::uint64_t next_commit_id_ = 1;
  Clock::time_point commit_retry_at_{};
  Clock::time_point next_recommit_{};
  bool drain_paused_ = false;
  LogThrottle commit_failure_log_;

  // librdkafka's limits per partition queue as they are in the end (the connection's options
  // may set them), set when the consumer is made.
  std::size_t fetch_queue_messages_ = 0;  // queued.min.messages
  std::size_t fetch_queue_bytes_ = 0;     // queued.max.messages.kbytes, in bytes
  std::size_t average_message_bytes_ = 0;  // of the last messages taken (under mutex_)

  // Shared between the group thread and the event loop.
  mutable std::mutex mutex_;
  OffsetTracker tracker_;
  // With delivery.batch, the batcher keeps the order (Event::order_group, set by this), so the
  // gate lets every message go; else the gate keeps it by holding messages back.
  OrderingGate gate_;
  config::Ordering order_groups_;
  std::vector<std::unique_ptr<PartitionReader>> readers_;  // served round robin
  std::size_t next_reader_ = 0;                            // where the round robin goes on
  std::uint32_t next_reader_id_ = 1;
  // Being revoked: nothing more of them is taken or started while their events in flight
  // finish.
  std::set<TopicPartition> revoking_;
  std::unordered_map<std::uint64_t, InFlight> inflight_;
  std::uint64_t next_token_ = 1;
};

}  // namespace kafka
}  // namespace triggerd
