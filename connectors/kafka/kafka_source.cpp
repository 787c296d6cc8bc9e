#include "connectors/kafka/kafka_source.hpp"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstring>

#include "broker/logging.hpp"
#include "broker/metrics.hpp"
#include "connectors/kafka/kafka_client_config.hpp"
#include "connectors/kafka/kafka_event.hpp"

namespace triggerd::kafka {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// After a failed commit (coordinator moving, broker down), before the next try.
constexpr auto kCommitRetryDelay = 100ms;
// A commit whose result has not come by then counts as failed (and is sent again).
constexpr auto kCommitResultTimeout = 10s;
// How long leaving the group may hold up a shutdown.
constexpr auto kCloseTimeout = 5s;
// Every so often the whole state is committed again, changed or not: cheap insurance for a
// partition that has gone quiet after a commit lost with a coordinator that moved.
constexpr auto kRecommitInterval = 2s;
constexpr auto kDepthInterval = 1s;
constexpr int kPollTimeoutMs = 100;
// The source's own buffer of fetched messages, bounded by count and by bytes. Large on
// purpose: pausing a partition makes librdkafka drop what it prefetched for it, and resuming
// fetches it again, so a buffer that fills with each fetch would pause and refetch all the
// time (with 1 000 messages it held the mock cluster to ~2 000 messages/s).
constexpr std::size_t kMinBuffered = 10000;
constexpr std::size_t kMaxBufferedBytes = 32u << 20;
// With `ordering: key`, how far past busy keys a partition's buffer is searched for a message
// that may start.
constexpr std::size_t kKeyLookahead = 256;

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

}  // namespace

KafkaSource::KafkaSource(asio::any_io_executor executor, const config::Trigger& trigger,
                         const config::Connection& connection, TriggerState& state)
    : executor_(executor),
      trigger_name_(trigger.name),
      connection_name_(connection.name),
      connection_(std::get<config::KafkaConnection>(connection.spec)),
      config_(std::get<config::KafkaSource>(trigger.source)),
      group_(config_.group.empty() ? "triggerd-" + trigger.name : config_.group),
      max_inflight_(static_cast<std::size_t>(std::max(1, trigger.delivery.max_inflight))),
      state_(state),
      log_(logging::get("kafka")),
      timer_(executor),
      wake_(executor, asio::steady_timer::time_point::max()),
      gate_(trigger.delivery.ordering) {}

KafkaSource::~KafkaSource() {
  stopping_ = true;
  {
    std::lock_guard lock(depth_mutex_);
    depth_stop_.notify_all();
  }
  if (poll_thread_.joinable()) poll_thread_.join();
}

std::optional<std::int64_t> KafkaSource::queue_depth() const {
  const std::int64_t depth = depth_.load(std::memory_order_relaxed);
  if (depth < 0) return std::nullopt;
  return depth;
}

// The drain's two steps are still one here: taking stops, and run() ends at once.
void KafkaSource::close(std::chrono::steady_clock::time_point /*deadline*/) {}

void KafkaSource::stop_taking() {
  stopping_ = true;
  timer_.cancel();
  wake_.cancel();
  std::lock_guard lock(depth_mutex_);
  depth_stop_.notify_all();
}

bool KafkaSource::create_consumer() {
  const std::string owner = "trigger " + trigger_name_;
  // librdkafka prefetches up to 64 MiB per consumer by default; with the source's own buffer
  // (kMaxBufferedBytes) on top, 16 MiB keeps a consumer's memory modest and still fetches
  // ahead. The connection's options may set it otherwise.
  rd_kafka_conf_t* conf = make_kafka_conf(
      connection_, owner, {{"queued.max.messages.kbytes", "16384"}},
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
  commit_results_ = rd_kafka_queue_new(consumer);
  // A handle of its own for the watermark queries: on the consumer's connections they wait
  // behind the long-polling fetches (up to fetch.wait.max.ms per partition).
  rd_kafka_conf_t* watermark_conf = make_kafka_conf(connection_, owner, {}, {});
  if (watermark_conf != nullptr) {
    watermarks_ = rd_kafka_new(RD_KAFKA_PRODUCER, watermark_conf, error, sizeof(error));
    if (watermarks_ == nullptr) rd_kafka_conf_destroy(watermark_conf);
  }
  return true;
}

asio::awaitable<void> KafkaSource::run(EventSink& sink) {
  if (!create_consumer()) {
    state_.set_source_up(false);
    co_return;
  }
  log_->info("trigger {}: consuming {} as group {} on kafka {}", trigger_name_,
             join_topics(config_.topics), group_, connection_name_);
  poll_thread_ = std::thread([this] { poll_loop(); });
  while (!stopping_) {
    if (!sink.has_room()) {
      co_await sink.wait_for_room();
      if (sink.has_room()) continue;
      // Draining: nothing more to hand over; wait for stop_taking().
    } else {
      std::size_t submitted = 0;
      try {
        submitted = pump(sink);
      } catch (const std::exception& error) {
        log_->error("trigger {}: kafka source: {}", trigger_name_, error.what());
      }
      if (submitted > 0) continue;
    }
    if (stopping_) break;
    co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  // The poll thread commits what finished and leaves the group; events still in flight
  // finish later and are not committed (delivered again: at least once).
  while (!poll_done_) {
    timer_.expires_after(20ms);
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (poll_thread_.joinable()) poll_thread_.join();
  state_.set_source_up(false);
}

void KafkaSource::wake_pump() {
  if (wake_posted_.exchange(true)) return;
  asio::post(executor_, [this] {
    wake_posted_ = false;
    wake_.cancel();
  });
}

std::optional<KafkaSource::Message> KafkaSource::next_startable() {
  if (waiting_count_ == 0 || waiting_.empty()) return std::nullopt;
  // Round robin: start after the partition served last, so that one busy partition cannot
  // starve the others.
  auto start = last_served_ ? waiting_.upper_bound(*last_served_) : waiting_.begin();
  if (start == waiting_.end()) start = waiting_.begin();
  auto it = start;
  do {
    auto& [partition, messages] = *it;
    // With `none` or `partition` only the oldest message of a partition may go next; with
    // `key`, one behind a busy key may, looking a bounded way ahead (this runs per event).
    const auto end = gate_.ordering() == config::Ordering::key
                         ? messages.begin() + std::min(messages.size(), kKeyLookahead)
                         : messages.begin() + std::min<std::size_t>(messages.size(), 1);
    auto found = std::find_if(messages.begin(), end, [&](const Message& candidate) {
      return gate_.may_start(partition, candidate.key);
    });
    if (found == end) found = messages.end();
    if (found != messages.end()) {
      Message message = std::move(*found);
      messages.erase(found);
      --waiting_count_;
      waiting_bytes_ -= message.size();
      last_served_ = partition;
      return message;
    }
    if (++it == waiting_.end()) it = waiting_.begin();
  } while (it != start);
  return std::nullopt;
}

std::size_t KafkaSource::pump(EventSink& sink) {
  std::size_t submitted = 0;
  while (sink.has_room()) {
    // Pick under the lock; submit outside it, because the trigger may start (and even finish)
    // the delivery inline.
    std::optional<Message> message;
    std::uint64_t token = 0;
    {
      std::lock_guard lock(mutex_);
      // What a crash now would deliver again: in flight, plus finished but not yet in a
      // confirmed commit. Kept within max_inflight.
      const auto at_risk =
          static_cast<std::int64_t>(inflight_.size()) + tracker_.unconfirmed();
      if (at_risk >= static_cast<std::int64_t>(max_inflight_)) break;
      message = next_startable();
      if (!message) break;
      gate_.started(message->partition, message->key);
      token = next_token_++;
      inflight_.emplace(
          token, InFlight{message->partition, message->generation, message->offset, message->key});
    }
    KafkaMessageView view;
    view.topic = message->partition.topic;
    view.partition = message->partition.partition;
    view.offset = message->offset;
    if (message->key) view.key = *message->key;
    view.value = message->value;
    view.timestamp_ms = message->timestamp_ms;
    for (const auto& [name, value] : message->headers) view.headers.emplace_back(name, value);
    Event event = make_kafka_event(connection_name_, view, std::chrono::system_clock::now());
    event.ack = AckHandle(this, token);
    if (!sink.try_submit(event)) {
      // Draining: the message stays unfinished, so it is not committed and comes again.
      event.ack = AckHandle();
      std::lock_guard lock(mutex_);
      inflight_.erase(token);
      break;
    }
    ++submitted;
  }
  return submitted;
}

void KafkaSource::acknowledge(std::uint64_t token, Outcome outcome) {
  {
    std::lock_guard lock(mutex_);
    const auto it = inflight_.find(token);
    if (it == inflight_.end()) return;
    const InFlight& done = it->second;
    const std::optional<std::string_view> key =
        done.key ? std::optional<std::string_view>(*done.key) : std::nullopt;
    if (tracker_.generation(done.partition) == done.generation) {
      gate_.finished(done.partition, key);
      // An abandoned event (a drain that ran out of time) stays unfinished: delivered again.
      if (outcome != Outcome::abandoned) {
        tracker_.finished(done.partition, done.generation, done.offset);
      }
    }
    inflight_.erase(it);
    // The poll thread may be waiting for messages (up to kPollTimeoutMs): once a quarter of
    // the redelivery bound waits for a commit, have it commit now. Not on every outcome: each
    // wake-up is a context switch, and under load the thread comes round soon anyway.
    if (queue_ != nullptr &&
        tracker_.unconfirmed() * 4 >= static_cast<std::int64_t>(max_inflight_) &&
        !commit_kick_.exchange(true)) {
      rd_kafka_queue_yield(queue_);
    }
  }
  // An ordering slot may have opened (runs on the io_context: no post needed).
  wake_.cancel();
}

void KafkaSource::poll_loop() {
  constexpr std::size_t kBatch = 256;
  rd_kafka_message_t* batch[kBatch];
  auto next_recommit = std::chrono::steady_clock::now() + kRecommitInterval;
  // The depth thread uses the consumer: this thread starts it and joins it before the
  // consumer goes.
  depth_thread_ = std::thread([this] { depth_loop(); });
  while (!stopping_) {
    commit_kick_ = false;
    // Wait for one message (rd_kafka_consume_batch_queue would wait for a whole batch), then
    // take what else is there without waiting.
    ssize_t count = 0;
    // While a commit is out, wait briefly: its result comes on a queue of its own.
    batch[0] = rd_kafka_consumer_poll(consumer_, commit_in_flight_ ? 1 : kPollTimeoutMs);
    if (batch[0] != nullptr) {
      count = 1 + std::max<ssize_t>(0, rd_kafka_consume_batch_queue(queue_, 0, batch + 1,
                                                                   kBatch - 1));
    }
    if (count > 0) {
      take_messages(reinterpret_cast<void* const*>(batch), static_cast<std::size_t>(count));
      for (ssize_t i = 0; i < count; ++i) rd_kafka_message_destroy(batch[i]);
    }
    rd_kafka_queue_poll_callback(commit_results_, 0);
    pause_or_resume();
    commit_changes();
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_recommit) {
      commit_now(nullptr);
      next_recommit = now + kRecommitInterval;
    }
  }
  commit_now(nullptr);
  {
    std::lock_guard lock(depth_mutex_);
    depth_stop_.notify_all();
  }
  if (depth_thread_.joinable()) depth_thread_.join();
  close_consumer();
  {
    std::lock_guard lock(mutex_);  // acknowledge() may be using it
    rd_kafka_queue_destroy(queue_);
    queue_ = nullptr;
  }
  rd_kafka_queue_destroy(commit_results_);
  commit_results_ = nullptr;
  // Closed above (or given up on): destroying must not try again and wait unbounded.
  rd_kafka_destroy_flags(consumer_, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  consumer_ = nullptr;
  if (watermarks_ != nullptr) rd_kafka_destroy(watermarks_);
  watermarks_ = nullptr;
  poll_done_ = true;
}

void KafkaSource::close_consumer() {
  // Leaves the group; the revoke in the rebalance callback commits once more. Asynchronously,
  // so that a coordinator that does not answer cannot hold the shutdown past kCloseTimeout.
  rd_kafka_error_t* error = rd_kafka_consumer_close_queue(consumer_, queue_);
  if (error != nullptr) {
    log_->warn("trigger {}: kafka consumer close: {}", trigger_name_, rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
    return;
  }
  const auto deadline = std::chrono::steady_clock::now() + kCloseTimeout;
  while (!rd_kafka_consumer_closed(consumer_)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      log_->warn("trigger {}: kafka consumer did not close within {} s; leaving", trigger_name_,
                 std::chrono::duration_cast<std::chrono::seconds>(kCloseTimeout).count());
      return;
    }
    // Serves the close (rebalance callback included); messages still arriving are dropped:
    // they were not taken, so they come again.
    rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer_, 100);
    if (message != nullptr) rd_kafka_message_destroy(message);
  }
}

void KafkaSource::take_messages(void* const* messages, std::size_t count) {
  std::vector<Message> copies;
  copies.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    const auto* message = static_cast<const rd_kafka_message_t*>(messages[i]);
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        log_->warn("trigger {}: kafka: {}", trigger_name_, rd_kafka_message_errstr(message));
        if (message->err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) state_.set_source_up(false);
      }
      continue;
    }
    Message& copy = copies.emplace_back();
    copy.partition = TopicPartition{rd_kafka_topic_name(message->rkt), message->partition};
    copy.offset = message->offset;
    if (message->key != nullptr) {
      copy.key = std::string(static_cast<const char*>(message->key), message->key_len);
    }
    if (message->payload != nullptr) {
      copy.value.assign(static_cast<const char*>(message->payload), message->len);
    }
    rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
    const std::int64_t timestamp = rd_kafka_message_timestamp(message, &type);
    if (type != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && timestamp >= 0) copy.timestamp_ms = timestamp;
    rd_kafka_headers_t* headers = nullptr;
    // rd_kafka_message_headers is not const-correct; it only reads.
    if (rd_kafka_message_headers(const_cast<rd_kafka_message_t*>(message), &headers) ==
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name = nullptr;
      const void* value = nullptr;
      std::size_t size = 0;
      for (std::size_t h = 0;
           rd_kafka_header_get_all(headers, h, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
           ++h) {
        copy.headers.emplace_back(
            name, value != nullptr ? std::string(static_cast<const char*>(value), size) : "");
      }
    }
  }
  if (copies.empty()) return;
  state_.set_source_up(true);
  bool added = false;
  {
    std::lock_guard lock(mutex_);
    for (Message& copy : copies) {
      const auto generation = tracker_.generation(copy.partition);
      if (!generation || tracker_.taken(copy.partition, copy.offset) != Take::deliver) continue;
      copy.generation = *generation;
      waiting_bytes_ += copy.size();
      ++waiting_count_;
      auto& queue = waiting_[copy.partition];
      queue.push_back(std::move(copy));
      added = true;
    }
  }
  if (added) wake_pump();
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
    // Before fetching starts: which offsets past the committed ones are finished already.
    preset_from_committed(consumer, partitions);
    if (cooperative) {
      rd_kafka_error_t* failed = rd_kafka_incremental_assign(consumer, partitions);
      if (failed != nullptr) rd_kafka_error_destroy(failed);
    } else {
      rd_kafka_assign(consumer, partitions);
    }
    paused_ = false;
    state_.set_source_up(true);
    log_->info("trigger {}: assigned {} partitions", trigger_name_, changed.size());
    return;
  }
  // Revoked or lost: commit what finished, then forget the rest (their outcomes must not
  // commit: another member may own the partitions now).
  if (error == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && !rd_kafka_assignment_lost(consumer)) {
    commit_now(&changed);
  }
  {
    std::lock_guard lock(mutex_);
    tracker_.revoke(changed);
    for (const TopicPartition& partition : changed) {
      gate_.forget(partition);
      const auto it = waiting_.find(partition);
      if (it == waiting_.end()) continue;
      waiting_count_ -= it->second.size();
      for (const Message& message : it->second) waiting_bytes_ -= message.size();
      waiting_.erase(it);
    }
  }
  if (cooperative) {
    rd_kafka_error_t* failed = rd_kafka_incremental_unassign(consumer, partitions);
    if (failed != nullptr) rd_kafka_error_destroy(failed);
  } else {
    rd_kafka_assign(consumer, nullptr);
  }
  log_->info("trigger {}: revoked {} partitions", trigger_name_, changed.size());
}

namespace {

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

}  // namespace

void KafkaSource::preset_from_committed(rd_kafka_s* consumer,
                                        rd_kafka_topic_partition_list_s* partitions) {
  rd_kafka_topic_partition_list_t* committed = rd_kafka_topic_partition_list_copy(partitions);
  const rd_kafka_resp_err_t err = rd_kafka_committed(consumer, committed, 10000);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // Not fatal: nothing is skipped, what finished past the committed offset comes again.
    log_->warn("trigger {}: cannot read committed offsets: {}", trigger_name_,
               rd_kafka_err2str(err));
  } else {
    std::lock_guard lock(mutex_);
    for (int i = 0; i < committed->cnt; ++i) {
      const rd_kafka_topic_partition_t& entry = committed->elems[i];
      if (entry.offset < 0 || entry.metadata == nullptr || entry.metadata_size == 0) continue;
      tracker_.preset_finished(
          TopicPartition{entry.topic, entry.partition},
          decode_commit_metadata(entry.offset,
                                 std::string_view(static_cast<const char*>(entry.metadata),
                                                  entry.metadata_size)));
    }
  }
  rd_kafka_topic_partition_list_destroy(committed);
}

void KafkaSource::commit_changes() {
  const auto now = std::chrono::steady_clock::now();
  if (commit_in_flight_ && now - commit_sent_at_ > kCommitResultTimeout) {
    // A result that never comes must not stop commits (and with them the redelivery bound)
    // for good: count it failed and send again.
    commit_result(RD_KAFKA_RESP_ERR__TIMED_OUT, nullptr);
  }
  if (commit_in_flight_ || now < commit_retry_at_) return;
  std::vector<OffsetTracker::Commit> commits;
  {
    std::lock_guard lock(mutex_);
    commits = tracker_.take_commits();
  }
  if (commits.empty()) return;
  rd_kafka_topic_partition_list_t* list = to_list(commits);
  // The result comes back on a queue of its own, served by this thread's loop: on the
  // consumer's queue, a pause would drop it (and with it every later commit).
  const rd_kafka_resp_err_t err = rd_kafka_commit_queue(
      consumer_, list, commit_results_,
      [](rd_kafka_t*, rd_kafka_resp_err_t error, rd_kafka_topic_partition_list_t* offsets,
         void* opaque) { static_cast<KafkaSource*>(opaque)->commit_result(error, offsets); },
      this);
  rd_kafka_topic_partition_list_destroy(list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    commit_result(err, nullptr);
    return;
  }
  commit_in_flight_ = true;
  commit_sent_at_ = now;
  log_->debug("trigger {}: committing {} partition(s)", trigger_name_, commits.size());
}

void KafkaSource::commit_result(int error, rd_kafka_topic_partition_list_s* offsets) {
  commit_in_flight_ = false;
  log_->debug("trigger {}: commit result: {}", trigger_name_,
              rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(error)));
  bool ok = error == RD_KAFKA_RESP_ERR_NO_ERROR || error == RD_KAFKA_RESP_ERR__NO_OFFSET;
  if (ok && offsets != nullptr) {
    for (int i = 0; i < offsets->cnt; ++i) ok = ok && offsets->elems[i].err == 0;
  }
  {
    std::lock_guard lock(mutex_);
    if (ok) {
      tracker_.commit_confirmed();
    } else {
      tracker_.commit_failed();
    }
  }
  if (ok) {
    wake_pump();  // what was held back by the redelivery bound may go now
  } else {
    log_->warn("trigger {}: kafka commit failed: {}; retrying", trigger_name_,
               rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(error)));
    commit_retry_at_ = std::chrono::steady_clock::now() + kCommitRetryDelay;
  }
}

void KafkaSource::commit_now(const std::vector<TopicPartition>* only) {
  std::vector<OffsetTracker::Commit> commits;
  {
    std::lock_guard lock(mutex_);
    commits = only != nullptr ? tracker_.take_commits(*only) : tracker_.current();
  }
  if (commits.empty()) return;
  rd_kafka_topic_partition_list_t* list = to_list(commits);
  const rd_kafka_resp_err_t err = rd_kafka_commit(consumer_, list, 0);
  rd_kafka_topic_partition_list_destroy(list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
    log_->warn("trigger {}: kafka commit failed: {}", trigger_name_, rd_kafka_err2str(err));
  }
}

void KafkaSource::pause_or_resume() {
  std::size_t waiting = 0;
  std::size_t bytes = 0;
  {
    std::lock_guard lock(mutex_);
    waiting = waiting_count_;
    bytes = waiting_bytes_;
  }
  // Pause when the buffer is full; resume once half of it has gone. Polling goes on either
  // way, so the member stays in the group.
  const std::size_t limit = std::max(max_inflight_ * 2, kMinBuffered);
  const bool full = waiting >= limit || bytes >= kMaxBufferedBytes;
  const bool drained = waiting <= limit / 2 && bytes <= kMaxBufferedBytes / 2;
  if (full == paused_ || (paused_ && !drained)) return;
  rd_kafka_topic_partition_list_t* assignment = nullptr;
  if (rd_kafka_assignment(consumer_, &assignment) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  // Logged at info: it happens when the buffer fills or half drains, not per event.
  if (full) {
    rd_kafka_pause_partitions(consumer_, assignment);
    paused_ = true;
    log_->info("trigger {}: paused {} partitions: {} messages wait", trigger_name_,
               assignment->cnt, waiting);
  } else {
    rd_kafka_resume_partitions(consumer_, assignment);
    paused_ = false;
    log_->info("trigger {}: resumed {} partitions", trigger_name_, assignment->cnt);
  }
  rd_kafka_topic_partition_list_destroy(assignment);
}

void KafkaSource::depth_loop() {
  std::unique_lock lock(depth_mutex_);
  while (!stopping_) {
    lock.unlock();
    refresh_depth();
    lock.lock();
    depth_stop_.wait_for(lock, kDepthInterval, [this] { return stopping_.load(); });
  }
}

void KafkaSource::refresh_depth() {
  rd_kafka_topic_partition_list_t* assignment = nullptr;
  if (rd_kafka_assignment(consumer_, &assignment) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  // Where each partition's backlog starts: its first unfinished message, or the consumer's
  // position when it has taken none yet.
  rd_kafka_position(consumer_, assignment);
  std::int64_t depth = 0;
  bool known = true;
  for (int i = 0; i < assignment->cnt; ++i) {
    const rd_kafka_topic_partition_t& entry = assignment->elems[i];
    std::int64_t low = 0;
    std::int64_t high = 0;
    const rd_kafka_resp_err_t err =
        watermarks_ != nullptr
            ? rd_kafka_query_watermark_offsets(watermarks_, entry.topic, entry.partition, &low,
                                               &high, 1000)
            : rd_kafka_get_watermark_offsets(consumer_, entry.topic, entry.partition, &low, &high);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR || high < 0) {
      known = false;
      break;
    }
    std::optional<std::int64_t> start;
    {
      std::lock_guard lock(mutex_);
      const auto it = tracker_.partitions().find(TopicPartition{entry.topic, entry.partition});
      if (it != tracker_.partitions().end()) start = it->second.first_unfinished();
    }
    // Nothing taken yet: the consumer's position, or where `start` puts a group without a
    // committed offset. (A group with a committed offset but no fetch yet since this start
    // is counted from the low watermark too: too high until its first fetch.)
    if (!start) {
      start = entry.offset >= 0                             ? entry.offset
              : config_.start == config::KafkaStart::latest ? high
                                                            : low;
    }
    depth += std::max<std::int64_t>(0, high - std::max(*start, low));
  }
  rd_kafka_topic_partition_list_destroy(assignment);
  if (!known) return;
  std::int64_t in_flight = 0;
  {
    std::lock_guard lock(mutex_);
    in_flight = static_cast<std::int64_t>(inflight_.size());
  }
  depth = std::max<std::int64_t>(0, depth - in_flight);
  depth_.store(depth, std::memory_order_relaxed);
  state_.set_queue_depth(depth);
}

}  // namespace triggerd::kafka
