#include "connectors/kafka/kafka_source.hpp"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>
#include <future>
#include <utility>

#include "core/background_thread.hpp"
#include "core/logging.hpp"
#include "core/metrics.hpp"
#include "connectors/kafka/kafka_backlog.hpp"
#include "connectors/kafka/kafka_client_config.hpp"
#include "connectors/kafka/kafka_commit_pace.hpp"
#include "connectors/kafka/kafka_event.hpp"
#include "connectors/kafka/kafka_queue_reader.hpp"

namespace triggerd::kafka {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// After a failed commit (coordinator moving, broker down), before the next try.
constexpr auto kCommitRetryDelay = 100ms;
// A commit whose result has not come by then counts as failed (and is sent again).
constexpr auto kCommitResultTimeout = 10s;
// How long a revoke may wait for the events in flight in its partitions, and then for its
// commit: the whole group waits meanwhile, and the member must be back polling within
// max.poll.interval.ms, so at most half of that.
constexpr auto kRevokeWaitLimit = 10s;
constexpr auto kRevokeCommitTimeout = 5s;
// How long reading the group's committed offsets at an assignment may take.
constexpr auto kCommittedTimeout = 10s;
// When the group thread ends without close() (it failed): how long it may still flush and
// leave the group.
constexpr auto kUnplannedCloseTimeout = 5s;
// Every so often the whole state is committed again, changed or not: cheap insurance for a
// partition that has gone quiet after a commit lost with a coordinator that moved.
constexpr auto kRecommitInterval = 2s;
// The group thread's longest wait: commit retries and timeouts are looked at this often.
constexpr auto kGroupWakeInterval = 100ms;
// The depth and the backlog total are refreshed this often (an autoscaler acts on the total,
// so it must be at most about a second old), each query of Kafka bounded by the timeout.
constexpr auto kDepthInterval = 1s;
constexpr auto kQueueReadTimeout = 1000ms;
// At most one "cannot read the queue's offsets" line per interval (a broker that is gone fails
// every refresh); each failure is counted all the same.
constexpr auto kQueueReadLogInterval = 30s;
// At most one "commit failed" line per interval (a broker that is gone fails one every
// kCommitRetryDelay); each failure is counted all the same.
constexpr auto kCommitFailureLogInterval = 30s;
// The most messages taken from a partition's queue in one go.
constexpr std::size_t kMaxTake = 256;

std::string join_topics(const std::vector<std::string>& items) {
  std::string joined;
  for (const auto& item : items) {
    if (!joined.empty()) joined += ',';
    joined += item;
  }
  return joined;
}

std::vector<TopicPartition> to_vector(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> partitions;
  for (int i = 0; i < list->cnt; ++i) {
    partitions.push_back(TopicPartition{list->elems[i].topic, list->elems[i].partition});
  }
  return partitions;
}

rd_kafka_topic_partition_list_t* to_list(const std::vector<OffsetTracker::Commit>& commits) {
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(commits.size()));
  for (const auto& commit : commits) {
    rd_kafka_topic_partition_t* entry = rd_kafka_topic_partition_list_add(
        list, commit.partition.topic.c_str(), commit.partition.partition);
    entry->offset = commit.offset;
    if (!commit.metadata.empty()) {
      // The list frees it with rd_kafka_topic_partition_list_destroy.
      entry->metadata = rd_kafka_mem_malloc(nullptr, commit.metadata.size());
      std::memcpy(entry->metadata, commit.metadata.data(), commit.metadata.size());
      entry->metadata_size = commit.metadata.size();
    }
  }
  return list;
}

std::optional<std::string_view> message_key(const rd_kafka_message_t& message) {
  if (message.key == nullptr) return std::nullopt;
  return std::string_view(static_cast<const char*>(message.key), message.key_len);
}

// Connection-level errors, as opposed to failed requests.
bool is_connection_error(rd_kafka_resp_err_t error) {
  return error == RD_KAFKA_RESP_ERR__TRANSPORT || error == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
         error == RD_KAFKA_RESP_ERR__RESOLVE || error == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
         error == RD_KAFKA_RESP_ERR__SSL;
}

// "orders[0,1,5] refunds[2]", for the log lines of a rebalance.
std::string describe(const std::vector<TopicPartition>& partitions) {
  std::map<std::string, std::vector<std::int32_t>> by_topic;
  for (const TopicPartition& partition : partitions) {
    by_topic[partition.topic].push_back(partition.partition);
  }
  std::string text;
  for (auto& [topic, numbers] : by_topic) {
    std::sort(numbers.begin(), numbers.end());
    if (!text.empty()) text += ' ';
    text += topic + '[';
    for (std::size_t i = 0; i < numbers.size(); ++i) {
      if (i > 0) text += ',';
      text += std::to_string(numbers[i]);
    }
    text += ']';
  }
  return text;
}

int milliseconds_until(std::chrono::steady_clock::time_point deadline,
                       std::chrono::milliseconds at_most) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return static_cast<int>(std::clamp(left, 0ms, at_most).count());
}

}  // namespace

void KafkaSource::MessageDestroyer::operator()(rd_kafka_message_s* message) const {
  rd_kafka_message_destroy(message);
}

KafkaSource::KafkaSource(asio::any_io_executor executor, const config::Trigger& trigger,
                         const config::Connection& connection, TriggerState& state)
    : executor_(executor),
      trigger_name_(trigger.name),
      connection_name_(connection.name),
      connection_(std::get<config::KafkaConnection>(connection.spec)),
      config_(std::get<config::KafkaSource>(trigger.source)),
      group_(config_.group.empty() ? "triggerd-" + trigger.name : config_.group),
      max_inflight_(static_cast<std::size_t>(std::max(1, trigger.delivery.max_inflight))),
      limits_(prefetch_limits(trigger.delivery.max_inflight)),
      state_(state),
      log_(logging::get("kafka")),
      wake_(executor, asio::steady_timer::time_point::max()),
      queue_read_log_(kQueueReadLogInterval),
      commit_failure_log_(kCommitFailureLogInterval),
      gate_(trigger.delivery.batch ? config::Ordering::none : trigger.delivery.ordering),
      order_groups_(trigger.delivery.batch ? trigger.delivery.ordering : config::Ordering::none) {}

KafkaSource::~KafkaSource() {
  // Without a close() (the app went away early): at once.
  close(Clock::now());
  if (group_thread_.joinable()) group_thread_.join();
  stop_depth_thread();
  if (depth_thread_.joinable()) depth_thread_.join();
  // No queue writes to it any more: the group thread closed every reader.
  if (wake_pipe_write_ >= 0) ::close(wake_pipe_write_);
}

// librdkafka's fetch limits keep the values they were derived from at start (prefetch_limits).
void KafkaSource::set_max_inflight(int max_inflight) {
  max_inflight_ = static_cast<std::size_t>(std::max(1, max_inflight));
}

std::optional<std::int64_t> KafkaSource::queue_depth() const {
  const std::int64_t depth = depth_.load(std::memory_order_relaxed);
  if (depth < 0) return std::nullopt;
  return depth;
}

void KafkaSource::stop_taking() {
  if (taking_stopped_.exchange(true)) return;
  {
    std::lock_guard lock(mutex_);
    // Never handed over: they stay unfinished, so no commit passes them, and come again.
    for (const auto& reader : readers_) reader->taken.clear();
  }
  wake_group_thread();  // to pause the partitions
  wake_.cancel();
  // The depth is of no use to a replica on its way out, and its queries must not hold up the
  // end.
  stop_depth_thread();
}

void KafkaSource::close(Clock::time_point deadline) {
  stop_taking();
  close_deadline_.store(std::min(deadline.time_since_epoch().count(), close_deadline_.load()));
  closing_ = true;
  wake_group_thread();
  wake_.cancel();
}

KafkaSource::Clock::time_point KafkaSource::bounded(Clock::duration limit) const {
  const auto end = Clock::now() + limit;
  if (!closing_) return end;
  return std::min(end, Clock::time_point(Clock::duration(close_deadline_.load())));
}

bool KafkaSource::create_consumer() {
  const std::string owner = "trigger " + trigger_name_;
  // librdkafka's own limits bound its prefetch of each partition (it stops fetching there),
  // sized from max_inflight; the connection's options may set others.
  rd_kafka_conf_t* conf = make_kafka_conf(
      connection_, owner,
      {{"queued.min.messages", std::to_string(limits_.queued_min_messages)},
       {"queued.max.messages.kbytes", std::to_string(limits_.queued_max_kbytes)},
       {"max.partition.fetch.bytes", std::to_string(limits_.partition_fetch_bytes)}},
      {{"group.id", group_},
       {"auto.offset.reset", config_.start == config::KafkaStart::latest ? "latest" : "earliest"},
       {"enable.auto.offset.store", "false"},
       {"enable.auto.commit", "false"}});
  if (conf == nullptr) return false;
  char error[512];
  // A lambda rather than a static member: it needs librdkafka's enum in its signature.
  rd_kafka_conf_set_rebalance_cb(
      conf, [](rd_kafka_t* consumer, rd_kafka_resp_err_t err,
               rd_kafka_topic_partition_list_t* partitions, void* opaque) {
        static_cast<KafkaSource*>(opaque)->rebalance(consumer, err, partitions);
      });
  rd_kafka_conf_set_opaque(conf, this);
  char interval[32] = "";
  std::size_t interval_size = sizeof(interval);
  revoke_wait_limit_ = std::chrono::duration_cast<std::chrono::milliseconds>(kRevokeWaitLimit);
  if (rd_kafka_conf_get(conf, "max.poll.interval.ms", interval, &interval_size) ==
      RD_KAFKA_CONF_OK) {
    revoke_wait_limit_ =
        std::min(revoke_wait_limit_, std::chrono::milliseconds(std::atoll(interval) / 2));
  }
  // librdkafka's limits as they are in the end (the connection's options may set them).
  fetch_queue_messages_ = limits_.queued_min_messages;
  fetch_queue_bytes_ = limits_.queued_max_kbytes * 1024;
  char value[32] = "";
  std::size_t value_size = sizeof(value);
  if (rd_kafka_conf_get(conf, "queued.min.messages", value, &value_size) == RD_KAFKA_CONF_OK) {
    fetch_queue_messages_ = static_cast<std::size_t>(std::max(1LL, std::atoll(value)));
  }
  value_size = sizeof(value);
  if (rd_kafka_conf_get(conf, "queued.max.messages.kbytes", value, &value_size) ==
      RD_KAFKA_CONF_OK) {
    fetch_queue_bytes_ = static_cast<std::size_t>(std::max(1LL, std::atoll(value))) * 1024;
  }
  rd_kafka_t* consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof(error));
  if (consumer == nullptr) {
    rd_kafka_conf_destroy(conf);
    log_->error("trigger {}: cannot create kafka consumer: {}", trigger_name_, error);
    return false;
  }
  rd_kafka_poll_set_consumer(consumer);
  rd_kafka_topic_partition_list_t* topics =
      rd_kafka_topic_partition_list_new(static_cast<int>(config_.topics.size()));
  for (const auto& topic : config_.topics) {
    rd_kafka_topic_partition_list_add(topics, topic.c_str(), RD_KAFKA_PARTITION_UA);
  }
  const rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    log_->error("trigger {}: cannot subscribe: {}", trigger_name_, rd_kafka_err2str(err));
    rd_kafka_destroy(consumer);
    return false;
  }
  consumer_ = consumer;
  queue_ = rd_kafka_queue_get_consumer(consumer);
  // Commit results come on a queue of their own: on the consumer's queue a pause would drop
  // them (and with them every later commit).
  commit_results_ = rd_kafka_queue_new(consumer);
  auto wake = [](rd_kafka_t* /*client*/, void* opaque) {
    static_cast<KafkaSource*>(opaque)->wake_group_thread();
  };
  for (rd_kafka_queue_t* queue : {queue_, commit_results_}) {
    rd_kafka_queue_cb_event_enable(queue, wake, this);
  }
  // A client of its own for the queries of the depth thread: on the consumer's connections
  // they wait behind the long-polling fetches (up to fetch.wait.max.ms per partition). Its
  // metadata requests must not create a topic that is not there, as a producer's may.
  rd_kafka_conf_t* reader_conf =
      make_kafka_conf(connection_, owner, {}, {{"allow.auto.create.topics", "false"}});
  if (reader_conf != nullptr) {
    rd_kafka_t* client = rd_kafka_new(RD_KAFKA_PRODUCER, reader_conf, error, sizeof(error));
    if (client == nullptr) {
      rd_kafka_conf_destroy(reader_conf);
      log_->warn("trigger {}: cannot create the kafka client for the depth: {}", trigger_name_,
                 error);
    } else {
      queue_reader_ = std::make_unique<QueueReader>(client, config_.topics, group_,
                                                    kQueueReadTimeout,
                                                    [this] { return depth_stopping(); });
    }
  }
  return true;
}

asio::awaitable<void> KafkaSource::run(EventSink& sink) {
  if (closing_ || !open_wake_pipe() || !create_consumer()) {
    state_.set_source_up(false);
    co_return;
  }
  log_->info("trigger {}: consuming {} as group {} on kafka {}", trigger_name_,
             join_topics(config_.topics), group_, connection_name_);
  watch_wake_pipe();
  sink_ = &sink;
  depth_thread_ = std::thread([this] {
    make_background_thread();
    depth_loop();
  });
  group_thread_ = std::thread([this] {
    make_background_thread();
    group_thread_main();
  });
  while (!group_ended_) {
    if (!taking_stopped_) {
      if (!sink.has_room()) {
        co_await sink.wait_for_room();
        if (sink.has_room()) continue;
        // Draining: nothing more to hand over.
      } else if (pump_guarded(sink) > 0) {
        continue;
      }
    }
    co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  sink_ = nullptr;
  // It has posted its end: joining takes no time.
  group_thread_.join();
  wake_pipe_.reset();
  state_.set_source_up(false);
}

bool KafkaSource::open_wake_pipe() {
  int ends[2];
  if (::pipe2(ends, O_NONBLOCK | O_CLOEXEC) != 0) {
    log_->error("trigger {}: cannot make the kafka wake-up pipe: {}", trigger_name_,
                std::strerror(errno));
    return false;
  }
  // Non-blocking on both ends: librdkafka's threads write to it and must never wait.
  wake_pipe_ = std::make_unique<asio::posix::stream_descriptor>(executor_, ends[0]);
  wake_pipe_write_ = ends[1];
  return true;
}

void KafkaSource::watch_wake_pipe() {
  wake_pipe_->async_wait(
      asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& error) {
        if (error) return;  // closed at the end of run()
        std::array<std::uint32_t, 256> ids{};
        bool woken = false;
        for (;;) {
          const ssize_t got = ::read(wake_pipe_->native_handle(), ids.data(), sizeof(ids));
          if (got <= 0) break;
          const auto count = static_cast<std::size_t>(got) / sizeof(std::uint32_t);
          {
            std::lock_guard lock(mutex_);
            for (std::size_t i = 0; i < count; ++i) {
              // Readers are kept in the order of their ids; one closed since is not found.
              const auto it = std::lower_bound(
                  readers_.begin(), readers_.end(), ids[i],
                  [](const auto& reader, std::uint32_t id) { return reader->id < id; });
              if (it != readers_.end() && (*it)->id == ids[i]) (*it)->readable = true;
            }
          }
          woken = true;
          if (static_cast<std::size_t>(got) < sizeof(ids)) break;
        }
        if (woken) wake_.cancel();
        watch_wake_pipe();
      });
}

void KafkaSource::wake_pump() {
  if (wake_posted_.exchange(true)) return;
  asio::post(executor_, [this] {
    wake_posted_ = false;
    wake_.cancel();
  });
}

void KafkaSource::wake_group_thread() {
  // One wake-up per turn of the group thread is enough (under load every outcome asks).
  if (group_wake_pending_.exchange(true)) return;
  {
    std::lock_guard lock(group_mutex_);
    group_woken_ = true;
  }
  group_wake_.notify_one();
}

void KafkaSource::wait_for_work(std::chrono::milliseconds timeout) {
  {
    std::unique_lock lock(group_mutex_);
    group_wake_.wait_for(lock, timeout, [this] { return group_woken_; });
    group_woken_ = false;
  }
  // Cleared before this thread looks at what changed: a wake-up asked for from now on comes.
  group_wake_pending_ = false;
}

KafkaSource::MessagePtr KafkaSource::next_startable(PartitionReader*& from) {
  const bool by_key = gate_.ordering() == config::Ordering::key;
  for (std::size_t visited = 0; visited < readers_.size(); ++visited) {
    // Round robin: on from the partition served last, so that one busy partition cannot
    // starve the others.
    if (next_reader_ >= readers_.size()) next_reader_ = 0;
    PartitionReader& reader = *readers_[next_reader_++];
    if (!by_key) {
      // With `none` or `partition` only a partition's oldest message may go next.
      if (!gate_.may_start(reader.partition, std::nullopt)) continue;
      if (reader.taken.empty()) take_from_queue(reader, limits_.take_ahead);
      if (reader.taken.empty()) continue;
      MessagePtr message = std::move(reader.taken.front());
      reader.taken.pop_front();
      from = &reader;
      return message;
    }
    // With `key`, one behind a busy key may go, looking a bounded way ahead.
    if (reader.taken.size() < limits_.key_lookahead) {
      take_from_queue(reader, limits_.key_lookahead - reader.taken.size());
    }
    const auto found =
        std::find_if(reader.taken.begin(), reader.taken.end(), [&](const MessagePtr& candidate) {
          return gate_.may_start(reader.partition, message_key(*candidate));
        });
    if (found == reader.taken.end()) continue;
    MessagePtr message = std::move(*found);
    reader.taken.erase(found);
    from = &reader;
    return message;
  }
  return nullptr;
}

void KafkaSource::take_from_queue(PartitionReader& reader, std::size_t limit) {
  limit = std::min(limit, kMaxTake);
  if (!reader.readable || limit == 0) return;
  // Whether librdkafka's queue for the partition grew to (about) one of its limits: then its
  // fetcher stopped, and needs a nudge once the queue is drained (restart_fetching). Its size
  // in bytes is estimated from the messages taken lately.
  const std::size_t queued = rd_kafka_queue_length(reader.queue);
  if (queued * 10 >= fetch_queue_messages_ * 9 ||
      queued * average_message_bytes_ * 10 >= fetch_queue_bytes_ * 9) {
    reader.fetch_restart_due = true;
  }
  std::array<rd_kafka_message_t*, kMaxTake> batch{};
  const ssize_t got = rd_kafka_consume_batch_queue(reader.queue, 0, batch.data(), limit);
  const std::size_t count = got > 0 ? static_cast<std::size_t>(got) : 0;
  std::size_t bytes = 0;
  std::size_t kept = 0;
  for (std::size_t i = 0; i < count; ++i) {
    MessagePtr message(batch[i]);
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        log_->warn("trigger {}: kafka: {}", trigger_name_, rd_kafka_message_errstr(message.get()));
        state_.count_source_error(SourceError::kCommand);
      }
      continue;
    }
    // Finished by a previous owner (the committed metadata says so) or taken before: dropped.
    if (tracker_.taken(reader.partition, message->offset) != Take::deliver) continue;
    bytes += message->len + message->key_len;
    ++kept;
    reader.taken.push_back(std::move(message));
  }
  if (kept > 0) {
    average_message_bytes_ = bytes / kept;
    state_.set_source_up(true);
  }
  if (count < limit) {
    // Dry: its next message wakes the loop through the pipe.
    reader.readable = false;
    if (reader.fetch_restart_due) {
      reader.fetch_restart_due = false;
      restart_fetching(reader);
    }
  }
}

void KafkaSource::restart_fetching(const PartitionReader& reader) {
  // A fetcher that found a partition's queue at queued.min.messages or
  // queued.max.messages.kbytes only looks again when something wakes its broker thread, or
  // after up to a second (librdkafka before 2.2 has no fetch.queue.backoff.ms), and the
  // partition would sit idle meanwhile. A seek to where the partition stands (one past the
  // last message taken) wakes its broker's fetcher and changes nothing else: the queue is
  // empty, and what was fetched before is taken already.
  const auto offsets = tracker_.partitions().find(reader.partition);
  if (offsets == tracker_.partitions().end()) return;
  const std::optional<std::int64_t> position = offsets->second.fetch_position();
  if (!position) return;
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, reader.partition.topic.c_str(),
                                    reader.partition.partition)
      ->offset = *position;
  // Asynchronous (no timeout): it returns at once.
  rd_kafka_error_t* error = rd_kafka_seek_partitions(consumer_, list, 0);
  if (error != nullptr) rd_kafka_error_destroy(error);
  rd_kafka_topic_partition_list_destroy(list);
}

std::size_t KafkaSource::pump_guarded(EventSink& sink) {
  // An outcome reported while this pumps (none is inline today) is taken up by this loop.
  if (pumping_) return 0;
  pumping_ = true;
  std::size_t submitted = 0;
  try {
    submitted = pump(sink);
  } catch (const std::exception& error) {
    log_->error("trigger {}: kafka source: {}", trigger_name_, error.what());
    state_.count_internal_error("kafka source");
  }
  pumping_ = false;
  return submitted;
}

std::size_t KafkaSource::pump(EventSink& sink) {
  std::size_t submitted = 0;
  while (sink.has_room() && !taking_stopped_) {
    // Pick under the lock; submit outside it, because the trigger may start (and even finish)
    // the delivery inline.
    MessagePtr message;
    std::uint64_t token = 0;
    {
      std::lock_guard lock(mutex_);
      // What a crash now would deliver again: in flight, plus finished but not yet in a
      // confirmed commit. Kept within max_inflight.
      const auto at_risk =
          static_cast<std::int64_t>(inflight_.size()) + tracker_.unconfirmed();
      if (at_risk >= static_cast<std::int64_t>(max_inflight_)) break;
      PartitionReader* reader = nullptr;
      message = next_startable(reader);
      if (!message) break;
      std::optional<std::string> key;
      if (gate_.ordering() == config::Ordering::key) {
        if (const auto view = message_key(*message)) key.emplace(*view);
      }
      gate_.started(reader->partition, key);
      token = next_token_++;
      inflight_.emplace(token, InFlight{reader->partition, reader->generation, message->offset,
                                        std::move(key)});
    }
    Event event = make_event(std::move(message), token);
    if (!sink.try_submit(event)) {
      // Draining: the message stays unfinished, so it is not committed and comes again.
      event.ack = AckHandle();
      std::lock_guard lock(mutex_);
      const auto it = inflight_.find(token);
      gate_.finished(it->second.partition, it->second.key);
      inflight_.erase(it);
      break;
    }
    ++submitted;
  }
  return submitted;
}

Event KafkaSource::make_event(MessagePtr message, std::uint64_t token) {
  KafkaMessageView view;
  view.topic = rd_kafka_topic_name(message->rkt);
  view.partition = message->partition;
  view.offset = message->offset;
  view.key = message_key(*message);
  rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  const std::int64_t timestamp = rd_kafka_message_timestamp(message.get(), &type);
  if (type != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && timestamp >= 0) view.timestamp_ms = timestamp;
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(message.get(), &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    for (std::size_t h = 0;
         rd_kafka_header_get_all(headers, h, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++h) {
      view.headers.emplace_back(
          name, value != nullptr ? std::string_view(static_cast<const char*>(value), size)
                                 : std::string_view());
    }
  }
  const std::string_view bytes =
      message->payload != nullptr
          ? std::string_view(static_cast<const char*>(message->payload), message->len)
          : std::string_view();
  // The value goes to the function from librdkafka's buffer: the event holds the message,
  // and destroys it when it ends.
  Payload value = Payload::lent(
      bytes, [](void* lent) { rd_kafka_message_destroy(static_cast<rd_kafka_message_t*>(lent)); },
      message.release());
  Event event = make_kafka_event(connection_name_, view, std::move(value),
                                 std::chrono::system_clock::now());
  event.order_group = order_group(order_groups_, view.topic, view.partition, view.key);
  event.ack = AckHandle(this, token);
  return event;
}

void KafkaSource::acknowledge(std::uint64_t token, Outcome outcome) {
  bool wake_group = false;
  {
    std::lock_guard lock(mutex_);
    const auto it = inflight_.find(token);
    if (it == inflight_.end()) return;
    const InFlight& done = it->second;
    if (tracker_.generation(done.partition) == done.generation) {
      gate_.finished(done.partition, done.key);
      // An abandoned event (a drain that ran out of time) stays unfinished: delivered again.
      if (outcome != Outcome::abandoned) {
        tracker_.finished(done.partition, done.generation, done.offset);
      }
    }
    inflight_.erase(it);
    // The group thread may be waiting (up to kGroupWakeInterval): have it look now when a
    // commit is due by the load, or when the bound holds the source back and it does not
    // know yet (it then looks again within kBoundPace). Not on every outcome otherwise, nor
    // while a commit is out (its result wakes the thread): each wake-up is a context switch.
    const CommitState commits = commit_state(since_last_commit(Clock::now()));
    wake_group = !commit_in_flight_ &&
                 (commit_due(commits) || (bound_reached(commits) && !group_sleeps_short_));
  }
  if (wake_group) wake_group_thread();
  // An ordering slot or a place may have opened: what may start now starts from here, in the
  // handler of the answer that finished this event (the trigger frees the event's place
  // before it reports the outcome). With `ordering: partition` the time from one event's end
  // to its partition's next start is all the source adds, so it waits for no loop iteration.
  // run() is woken only when room is what stops this (a bound raised by a reload, say); the
  // other stops (nothing to take, the redelivery bound, a drain) wake it when they change.
  if (sink_ != nullptr && !taking_stopped_ && sink_->has_room()) {
    pump_guarded(*sink_);
    if (sink_->has_room()) return;
  }
  wake_.cancel();
}

void KafkaSource::group_thread_main() {
  try {
    serve_group_until_closed();
  } catch (const std::exception& error) {
    log_->error("trigger {}: kafka group thread failed: {}; the source stops", trigger_name_,
                error.what());
    state_.count_internal_error("kafka group thread");
  }
  try {
    finish_group();
  } catch (const std::exception& error) {
    log_->error("trigger {}: kafka consumer close failed: {}", trigger_name_, error.what());
    state_.count_internal_error("kafka group thread");
  }
  asio::post(executor_, [this] {
    group_ended_ = true;
    wake_.cancel();
  });
}

void KafkaSource::serve_group_until_closed() {
  next_recommit_ = Clock::now() + kRecommitInterval;
  while (!closing_) {
    if (taking_stopped_ && !drain_paused_) {
      rd_kafka_topic_partition_list_t* assignment = nullptr;
      if (rd_kafka_assignment(consumer_, &assignment) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        pause_for_drain(assignment);
        log_->info("trigger {}: draining: {} partitions paused; what finishes is committed",
                   trigger_name_, assignment->cnt);
        rd_kafka_topic_partition_list_destroy(assignment);
      }
      drain_paused_ = true;
    }
    // Rebalances and errors; served whatever the trigger holds, so the member never exceeds
    // max.poll.interval.ms.
    while (rd_kafka_message_t* event = rd_kafka_consumer_poll(consumer_, 0)) {
      consumer_event(*event);
      rd_kafka_message_destroy(event);
    }
    rd_kafka_queue_poll_callback(commit_results_, 0);
    commit_changes(Clock::now());
    bool sleep_short = false;
    {
      // Held back by the bound with events finished: the next commit is due soon.
      std::lock_guard lock(mutex_);
      sleep_short = !commit_out_ && bound_reached(commit_state(Clock::duration::zero()));
      group_sleeps_short_ = sleep_short;
    }
    wait_for_work(sleep_short ? std::chrono::milliseconds(kBoundPace) : kGroupWakeInterval);
  }
}

void KafkaSource::consumer_event(const rd_kafka_message_t& event) {
  if (event.err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    // A message of a partition that has no reader (add_readers logged why): not taken, so
    // not committed; it comes again to the partition's next owner.
    return;
  }
  log_->warn("trigger {}: kafka: {}", trigger_name_, rd_kafka_message_errstr(&event));
  if (is_connection_error(event.err)) {
    state_.count_source_error(SourceError::kConnect);
    if (event.err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) state_.set_source_up(false);
  } else {
    state_.count_source_error(SourceError::kCommand);
  }
}

void KafkaSource::rebalance(rd_kafka_s* consumer, int error,
                            rd_kafka_topic_partition_list_s* partitions) {
  const bool cooperative = std::string(rd_kafka_rebalance_protocol(consumer)) == "COOPERATIVE";
  const std::vector<TopicPartition> changed = to_vector(partitions);
  if (error == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    {
      std::lock_guard lock(mutex_);
      tracker_.assign(changed);
    }
    // Before fetching starts: where the group stands, and which offsets past the committed
    // ones are finished already. Not while draining: nothing is taken from them any more.
    if (!taking_stopped_) preset_from_committed(consumer, partitions);
    add_readers(consumer, partitions);
    if (cooperative) {
      rd_kafka_error_t* failed = rd_kafka_incremental_assign(consumer, partitions);
      if (failed != nullptr) rd_kafka_error_destroy(failed);
    } else {
      rd_kafka_assign(consumer, partitions);
    }
    if (taking_stopped_) pause_for_drain(partitions);
    state_.set_source_up(true);
    log_->info("trigger {}: assigned {} partitions: {}", trigger_name_, changed.size(),
               describe(changed));
    return;
  }
  // Revoked or lost: nothing more of them starts (their readers go, with what they had taken
  // and not started); revoked ones let their events in flight finish and commit what
  // finished (lost ones cannot: another member owns them already); then the rest is forgotten
  // (later outcomes commit nothing; those events may come twice).
  std::vector<std::unique_ptr<PartitionReader>> gone;
  {
    std::lock_guard lock(mutex_);
    revoking_.insert(changed.begin(), changed.end());
    gone = take_readers(&changed);
  }
  close_readers(gone);
  const bool lost =
      error != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS || rd_kafka_assignment_lost(consumer);
  if (!lost) {
    wait_for_in_flight(changed);
    commit_before_revoke(changed);
  }
  {
    std::lock_guard lock(mutex_);
    tracker_.revoke(changed);
    for (const TopicPartition& partition : changed) {
      gate_.forget(partition);
      revoking_.erase(partition);
    }
  }
  if (cooperative) {
    rd_kafka_error_t* failed = rd_kafka_incremental_unassign(consumer, partitions);
    if (failed != nullptr) rd_kafka_error_destroy(failed);
  } else {
    rd_kafka_assign(consumer, nullptr);
  }
  log_->info("trigger {}: {} {} partitions: {}", trigger_name_, lost ? "lost" : "revoked",
             changed.size(), describe(changed));
}

void KafkaSource::add_readers(rd_kafka_s* consumer,
                              const rd_kafka_topic_partition_list_s* partitions) {
  std::vector<TopicPartition> assigned;
  std::vector<std::unique_ptr<PartitionReader>> added;
  for (int i = 0; i < partitions->cnt; ++i) {
    const rd_kafka_topic_partition_t& entry = partitions->elems[i];
    rd_kafka_queue_t* queue = rd_kafka_queue_get_partition(consumer, entry.topic, entry.partition);
    if (queue == nullptr) {
      // Its messages then come on the consumer's queue, where nothing takes them: the
      // partition is not served (its depth shows it) until the next assignment.
      log_->error("trigger {}: no queue for {} [{}]; the partition is not served", trigger_name_,
                  entry.topic, entry.partition);
      state_.count_internal_error("kafka source");
      continue;
    }
    // Its messages stay in its own queue, for the event loop (set by the application, this
    // stays when the assignment starts the fetch).
    rd_kafka_queue_forward(queue, nullptr);
    auto reader = std::make_unique<PartitionReader>();
    reader->partition = TopicPartition{entry.topic, entry.partition};
    reader->queue = queue;
    assigned.push_back(reader->partition);
    added.push_back(std::move(reader));
  }
  std::vector<std::unique_ptr<PartitionReader>> replaced;
  {
    std::lock_guard lock(mutex_);
    replaced = take_readers(&assigned);  // none, unless a partition is assigned twice
    for (auto& reader : added) {
      reader->generation = tracker_.generation(reader->partition).value_or(0);
      reader->id = next_reader_id_++;
      rd_kafka_queue_io_event_enable(reader->queue, wake_pipe_write_, &reader->id,
                                     sizeof(reader->id));
      readers_.push_back(std::move(reader));  // ids grow: readers_ stays in their order
    }
  }
  close_readers(replaced);
  // Readers start readable: the loop looks at once.
  wake_pump();
}

std::vector<std::unique_ptr<KafkaSource::PartitionReader>> KafkaSource::take_readers(
    const std::vector<TopicPartition>* partitions) {
  std::vector<std::unique_ptr<PartitionReader>> taken;
  for (auto& reader : readers_) {
    if (partitions == nullptr || std::find(partitions->begin(), partitions->end(),
                                           reader->partition) != partitions->end()) {
      taken.push_back(std::move(reader));
    }
  }
  std::erase(readers_, nullptr);
  next_reader_ = 0;
  return taken;
}

void KafkaSource::close_readers(std::vector<std::unique_ptr<PartitionReader>>& readers) {
  for (auto& reader : readers) {
    rd_kafka_queue_io_event_enable(reader->queue, -1, nullptr, 0);
    rd_kafka_queue_destroy(reader->queue);
    reader->queue = nullptr;
  }
  // What they had taken and not started is destroyed with them: never handed over, so never
  // committed.
  readers.clear();
}

void KafkaSource::pause_for_drain(rd_kafka_topic_partition_list_s* partitions) {
  // Fetching stops and what librdkafka prefetched for them is dropped; the member stays in the
  // group with its partitions until close(), so no other member delivers them meanwhile.
  const rd_kafka_resp_err_t err = rd_kafka_pause_partitions(consumer_, partitions);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    log_->warn("trigger {}: cannot pause partitions for the drain: {}", trigger_name_,
               rd_kafka_err2str(err));
  }
}

void KafkaSource::preset_from_committed(rd_kafka_s* consumer,
                                        rd_kafka_topic_partition_list_s* partitions) {
  rd_kafka_topic_partition_list_t* committed = rd_kafka_topic_partition_list_copy(partitions);
  const int timeout_ms =
      milliseconds_until(bounded(kCommittedTimeout),
                         std::chrono::duration_cast<std::chrono::milliseconds>(kCommittedTimeout));
  const rd_kafka_resp_err_t err = rd_kafka_committed(consumer, committed, timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // Not fatal: nothing is skipped, what finished past the committed offset comes again; the
    // depth counts from the start rule until something is taken.
    log_->warn("trigger {}: cannot read committed offsets: {}", trigger_name_,
               rd_kafka_err2str(err));
    state_.count_source_error(SourceError::kCommand);
  } else {
    std::lock_guard lock(mutex_);
    for (int i = 0; i < committed->cnt; ++i) {
      const rd_kafka_topic_partition_t& entry = committed->elems[i];
      const TopicPartition partition{entry.topic, entry.partition};
      if (entry.err != RD_KAFKA_RESP_ERR_NO_ERROR || entry.offset < 0) continue;
      tracker_.set_group_committed(partition, entry.offset);
      if (entry.metadata == nullptr || entry.metadata_size == 0) continue;
      tracker_.preset_finished(
          partition, decode_commit_metadata(
                         entry.offset, std::string_view(static_cast<const char*>(entry.metadata),
                                                        entry.metadata_size)));
    }
  }
  rd_kafka_topic_partition_list_destroy(committed);
}

CommitState KafkaSource::commit_state(Clock::duration since_last_commit) const {
  // While draining, each finished event is committed as it finishes; a revoke waits for its
  // commit.
  return {.draining = taking_stopped_ || !revoking_.empty(),
          .in_flight = static_cast<std::int64_t>(inflight_.size()),
          .unconfirmed = tracker_.unconfirmed(),
          .max_inflight = static_cast<std::int64_t>(max_inflight_),
          .since_last_commit = since_last_commit};
}

bool KafkaSource::commit_wanted(Clock::duration since_last_commit) const {
  return commit_due(commit_state(since_last_commit));
}

KafkaSource::Clock::duration KafkaSource::since_last_commit(Clock::time_point now) const {
  return now - Clock::time_point(Clock::duration(last_commit_sent_.load()));
}

void KafkaSource::clear_commit_out() {
  commit_out_.reset();
  commit_in_flight_ = false;
}

void KafkaSource::commit_changes(Clock::time_point now) {
  if (commit_out_ && now - commit_out_->sent_at > kCommitResultTimeout) {
    // A result that never comes (a coordinator that is gone) must not stop commits, and with
    // them the redelivery bound, for good: count it failed and send again. Its late result is
    // ignored.
    clear_commit_out();
    commit_failed(RD_KAFKA_RESP_ERR__TIMED_OUT);
  }
  if (commit_out_ || now < commit_retry_at_) return;
  std::vector<OffsetTracker::Commit> commits;
  {
    std::lock_guard lock(mutex_);
    if (now >= next_recommit_) {
      commits = tracker_.take_all_commits();
      next_recommit_ = now + kRecommitInterval;
    } else if (commit_wanted(since_last_commit(now))) {
      commits = tracker_.take_commits();
    }
  }
  if (!commits.empty()) send_commit(commits);
}

void KafkaSource::send_commit(const std::vector<OffsetTracker::Commit>& commits) {
  rd_kafka_topic_partition_list_t* list = to_list(commits);
  const std::uint64_t id = next_commit_id_++;
  // Asynchronous: the result comes on commit_results_, served by this thread. The id tells a
  // late result of a commit that was given up on from the one awaited.
  const rd_kafka_resp_err_t err = rd_kafka_commit_queue(
      consumer_, list, commit_results_,
      [](rd_kafka_t* client, rd_kafka_resp_err_t error, rd_kafka_topic_partition_list_t* offsets,
         void* opaque) {
        static_cast<KafkaSource*>(rd_kafka_opaque(client))
            ->commit_result(reinterpret_cast<std::uintptr_t>(opaque), error, offsets);
      },
      reinterpret_cast<void*>(static_cast<std::uintptr_t>(id)));
  rd_kafka_topic_partition_list_destroy(list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    commit_failed(err);
    return;
  }
  commit_out_ = PendingCommit{id, Clock::now()};
  commit_in_flight_ = true;
  last_commit_sent_ = commit_out_->sent_at.time_since_epoch().count();
  log_->debug("trigger {}: committing {} partition(s)", trigger_name_, commits.size());
}

void KafkaSource::commit_result(std::uint64_t id, int error,
                                rd_kafka_topic_partition_list_s* offsets) {
  if (!commit_out_ || commit_out_->id != id) return;  // given up on already, and counted
  clear_commit_out();
  auto result = static_cast<rd_kafka_resp_err_t>(error);
  if (result == RD_KAFKA_RESP_ERR__NO_OFFSET) result = RD_KAFKA_RESP_ERR_NO_ERROR;
  if (result == RD_KAFKA_RESP_ERR_NO_ERROR && offsets != nullptr) {
    for (int i = 0; i < offsets->cnt && result == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
      result = offsets->elems[i].err;
    }
  }
  log_->debug("trigger {}: commit result: {}", trigger_name_, rd_kafka_err2str(result));
  if (result != RD_KAFKA_RESP_ERR_NO_ERROR) {
    commit_failed(result);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    tracker_.commit_confirmed();
  }
  wake_pump();  // what was held back by the redelivery bound may go now
}

void KafkaSource::commit_failed(int error) {
  {
    std::lock_guard lock(mutex_);
    tracker_.commit_failed();
  }
  state_.count_source_error(SourceError::kCommit);
  const auto now = Clock::now();
  commit_retry_at_ = now + kCommitRetryDelay;
  std::uint64_t suppressed = 0;
  if (!commit_failure_log_.should_log(now, suppressed)) return;
  const char* reason = rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(error));
  if (suppressed > 0) {
    log_->warn(
        "trigger {}: kafka commit failed: {}; retrying ({} more failed since the last "
        "report)",
        trigger_name_, reason, suppressed);
  } else {
    log_->warn("trigger {}: kafka commit failed: {}; retrying", trigger_name_, reason);
  }
}

void KafkaSource::await_commit(Clock::time_point deadline) {
  while (commit_out_ && Clock::now() < deadline) {
    rd_kafka_queue_poll_callback(commit_results_, milliseconds_until(deadline, 100ms));
  }
}

void KafkaSource::wait_for_in_flight(const std::vector<TopicPartition>& partitions) {
  const Clock::time_point deadline = bounded(revoke_wait_limit_);
  for (;;) {
    std::size_t left = 0;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [token, event] : inflight_) {
        if (std::find(partitions.begin(), partitions.end(), event.partition) != partitions.end()) {
          ++left;
        }
      }
    }
    if (left == 0) return;
    const auto now = Clock::now();
    if (now >= deadline) {
      log_->warn(
          "trigger {}: giving up {} partition(s) with {} event(s) still in flight: the "
          "partitions' next owner may deliver them again",
          trigger_name_, partitions.size(), left);
      return;
    }
    // Commits go on meanwhile (acknowledge() wakes this wait).
    rd_kafka_queue_poll_callback(commit_results_, 0);
    commit_changes(now);
    wait_for_work(std::chrono::milliseconds(milliseconds_until(deadline, 100ms)));
  }
}

void KafkaSource::commit_before_revoke(const std::vector<TopicPartition>& partitions) {
  // Synchronous, and the one place that is: once this callback returns, another member may
  // own the partitions, and a commit that arrives after the rebalance is refused (or would
  // race the new owner's). Bounded, since the whole group waits for it.
  const Clock::time_point deadline = bounded(kRevokeCommitTimeout);
  await_commit(deadline);  // one commit at a time: the one out comes back first
  std::vector<OffsetTracker::Commit> commits;
  if (!commit_out_) {
    std::lock_guard lock(mutex_);
    commits = tracker_.take_commits(partitions);
  }
  if (!commits.empty()) {
    send_commit(commits);
    await_commit(deadline);
  }
  if (commit_out_) {
    log_->warn(
        "trigger {}: the commit before giving up {} partition(s) was not confirmed in "
        "time; what finished in them may be delivered again",
        trigger_name_, partitions.size());
    clear_commit_out();
    commit_failed(RD_KAFKA_RESP_ERR__TIMED_OUT);
  }
}

void KafkaSource::flush_commits(Clock::time_point deadline) {
  while (Clock::now() < deadline) {
    rd_kafka_queue_poll_callback(commit_results_, 0);
    const auto now = Clock::now();
    if (commit_out_ && now - commit_out_->sent_at > kCommitResultTimeout) {
      clear_commit_out();
      commit_failed(RD_KAFKA_RESP_ERR__TIMED_OUT);
    }
    if (!commit_out_ && now >= commit_retry_at_) {
      std::vector<OffsetTracker::Commit> commits;
      {
        std::lock_guard lock(mutex_);
        commits = tracker_.take_commits();
      }
      if (commits.empty()) return;  // everything finished is in a confirmed commit
      send_commit(commits);
      continue;
    }
    const auto wait_until = commit_out_ ? deadline : std::min(deadline, commit_retry_at_);
    rd_kafka_queue_poll_callback(commit_results_, milliseconds_until(wait_until, 100ms));
  }
  bool unconfirmed = commit_out_.has_value();
  if (!unconfirmed) {
    std::lock_guard lock(mutex_);
    unconfirmed = !tracker_.take_commits().empty();
  }
  if (!unconfirmed) return;
  log_->warn(
      "trigger {}: the last commit was not confirmed by the drain's deadline; what "
      "finished since the last confirmed one will be delivered again",
      trigger_name_);
}

void KafkaSource::close_consumer(Clock::time_point deadline) {
  if (Clock::now() >= deadline) {
    log_->warn(
        "trigger {}: no time left to leave the group; the others take over the "
        "partitions once its session times out",
        trigger_name_);
    return;
  }
  // Leaves the group; the revoke in the rebalance callback commits nothing new by now.
  rd_kafka_error_t* error = rd_kafka_consumer_close_queue(consumer_, queue_);
  if (error != nullptr) {
    log_->warn("trigger {}: kafka consumer close: {}", trigger_name_, rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
    return;
  }
  while (!rd_kafka_consumer_closed(consumer_)) {
    if (Clock::now() >= deadline) {
      log_->warn("trigger {}: kafka consumer did not close by the drain's deadline; leaving",
                 trigger_name_);
      return;
    }
    // Serves the close (rebalance callback included); messages still arriving are dropped:
    // they were not taken, so they come again.
    rd_kafka_message_t* message =
        rd_kafka_consumer_poll(consumer_, milliseconds_until(deadline, 100ms));
    if (message != nullptr) rd_kafka_message_destroy(message);
  }
}

void KafkaSource::finish_group() {
  const Clock::time_point deadline =
      closing_ ? Clock::time_point(Clock::duration(close_deadline_.load()))
               : Clock::now() + kUnplannedCloseTimeout;
  flush_commits(deadline);
  close_consumer(deadline);
  // From here on no librdkafka thread calls into this source or writes to its pipe.
  std::vector<std::unique_ptr<PartitionReader>> left;
  {
    std::lock_guard lock(mutex_);
    left = take_readers(nullptr);
  }
  close_readers(left);
  for (rd_kafka_queue_t* queue : {queue_, commit_results_}) {
    rd_kafka_queue_cb_event_enable(queue, nullptr, nullptr);
    rd_kafka_queue_destroy(queue);
  }
  queue_ = commit_results_ = nullptr;
  destroy_consumer(deadline);
}

void KafkaSource::destroy_consumer(Clock::time_point deadline) {
  rd_kafka_t* const consumer = std::exchange(consumer_, nullptr);
  // The handle may outlive this source (below): it must not call back into triggerd's
  // logging, which may be gone by then. A close is logged above; its destruction is not news.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  rd_kafka_set_log_level(consumer, 0);
#pragma GCC diagnostic pop
  // Destroying waits for the group's termination, which waits for commits still waiting for a
  // coordinator, up to session.timeout.ms: with the brokers gone, far past the deadline. So
  // on a thread of its own, given up on at the deadline (closed above, or given up on: it must
  // not try to leave the group again).
  auto destroyed = std::make_shared<std::promise<void>>();
  std::future<void> done = destroyed->get_future();
  std::thread destroyer([consumer, destroyed] {
    rd_kafka_destroy_flags(consumer, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    destroyed->set_value();
  });
  if (done.wait_until(deadline) == std::future_status::ready) {
    destroyer.join();
    return;
  }
  destroyer.detach();
  log_->warn(
      "trigger {}: the kafka client did not shut down by the drain's deadline (brokers "
      "unreachable?); left to finish on its own",
      trigger_name_);
}

void KafkaSource::stop_depth_thread() {
  std::lock_guard lock(depth_mutex_);
  depth_stopping_ = true;
  depth_stop_.notify_all();
}

bool KafkaSource::depth_stopping() {
  std::lock_guard lock(depth_mutex_);
  return depth_stopping_;
}

void KafkaSource::depth_loop() {
  try {
    std::unique_lock lock(depth_mutex_);
    while (!depth_stopping_) {
      // Every kDepthInterval from the start of one refresh to the next, however long the
      // queries took (within their timeouts).
      const auto next = Clock::now() + kDepthInterval;
      lock.unlock();
      refresh_depth();
      lock.lock();
      depth_stop_.wait_until(lock, next, [this] { return depth_stopping_; });
    }
  } catch (const std::exception& error) {
    log_->error(
        "trigger {}: kafka depth thread failed: {}; the depth and the backlog total are no "
        "longer refreshed",
        trigger_name_, error.what());
    state_.count_internal_error("kafka depth thread");
  }
  queue_reader_.reset();
}

void KafkaSource::refresh_depth() {
  if (!queue_reader_) return;
  std::vector<AssignedPartition> assigned;
  std::vector<TopicPartition> known;
  std::int64_t in_flight = 0;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [partition, offsets] : tracker_.partitions()) {
      assigned.push_back(AssignedPartition{partition, offsets.backlog_start()});
      known.push_back(partition);
    }
    in_flight = static_cast<std::int64_t>(inflight_.size());
  }
  // Every partition of the topics, not only this member's: the backlog total is the group's.
  const std::optional<std::vector<TopicPartition>> partitions = queue_reader_->partitions(known);
  if (!partitions) {
    queue_read_failed();
    return;
  }
  // The committed offsets before the watermarks: a high watermark read after a commit is never
  // below the committed offset.
  const std::optional<CommittedMap> committed = queue_reader_->committed(*partitions);
  std::string failure = committed ? "" : queue_reader_->error();
  const std::optional<WatermarkMap> marks = queue_reader_->watermarks(*partitions);
  if (!marks) {
    queue_read_failed();  // both figures keep their last values
    return;
  }
  if (const std::optional<std::int64_t> depth =
          member_depth(assigned, *marks, in_flight, config_.start)) {
    depth_.store(*depth, std::memory_order_relaxed);
    state_.set_queue_depth(*depth);
  }
  if (!committed) {
    queue_read_failed(failure);
    return;
  }
  state_.set_backlog_total(group_backlog(*marks, *committed, config_.start));
  if (queue_read_failing_) {
    queue_read_failing_ = false;
    log_->info("trigger {}: reading the queue's offsets again", trigger_name_);
  }
}

void KafkaSource::queue_read_failed(std::string failure) {
  if (depth_stopping()) return;  // cut short by the stop, not a failure of Kafka
  if (failure.empty()) failure = queue_reader_->error();
  state_.count_source_error(SourceError::kCommand);
  queue_read_failing_ = true;
  std::uint64_t suppressed = 0;
  if (!queue_read_log_.should_log(Clock::now(), suppressed)) return;
  log_->warn(
      "trigger {}: cannot read the queue's offsets ({}); the depth and the backlog total keep "
      "their last values{}",
      trigger_name_, failure,
      suppressed > 0 ? fmt::format(" ({} more failures since the last report)", suppressed) : "");
}

}  // namespace triggerd::kafka
