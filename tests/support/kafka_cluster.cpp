#include "tests/support/kafka_cluster.hpp"

#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "tests/support/temp_file.hpp"

#ifndef KAFKA_MOCK_CLUSTER_BINARY
#error "KAFKA_MOCK_CLUSTER_BINARY must name the kafka_mock_cluster helper"
#endif

namespace triggerd::testing {

namespace {

struct HandleDeleter {
  void operator()(rd_kafka_t* handle) const { rd_kafka_destroy(handle); }
};
using HandlePtr = std::unique_ptr<rd_kafka_t, HandleDeleter>;

struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

void set(rd_kafka_conf_t* conf, const char* name, const std::string& value) {
  char error[512];
  if (rd_kafka_conf_set(conf, name, value.c_str(), error, sizeof(error)) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("kafka conf ") + name + ": " + error);
  }
}

HandlePtr make_handle(rd_kafka_type_t type, rd_kafka_conf_t* conf) {
  char error[512];
  rd_kafka_t* handle = rd_kafka_new(type, conf, error, sizeof(error));
  if (handle == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("rd_kafka_new: ") + error);
  }
  return HandlePtr(handle);
}

// Counts failed deliveries; the opaque is a std::atomic<int>.
void on_delivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    static_cast<std::atomic<int>*>(opaque)->fetch_add(1);
  }
}

// A consumer with `group` (or a throwaway group: librdkafka wants one for committed()), and a
// session timeout when it joins the group (else librdkafka's).
HandlePtr make_consumer(const std::string& bootstrap, const std::string& group,
                        const char* session_timeout_ms = nullptr) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", bootstrap);
  set(conf, "group.id", group);
  set(conf, "enable.auto.commit", "false");
  set(conf, "auto.offset.reset", "earliest");
  if (session_timeout_ms != nullptr) set(conf, "session.timeout.ms", session_timeout_ms);
  set(conf, "log_level", "3");
  HandlePtr handle = make_handle(RD_KAFKA_CONSUMER, conf);
  rd_kafka_poll_set_consumer(handle.get());
  return handle;
}

}  // namespace

std::optional<std::string> KafkaRecord::header(const std::string& name) const {
  for (const auto& [header_name, header_value] : headers) {
    if (header_name == name) return header_value;
  }
  return std::nullopt;
}

KafkaCluster::KafkaCluster(const std::vector<KafkaTopic>& topics, int brokers) {
  std::vector<std::string> args{"--brokers", std::to_string(brokers)};
  for (const auto& topic : topics) {
    args.push_back("--topic");
    args.push_back(topic.name + ":" + std::to_string(topic.partitions));
  }
  // The helper's stdin is a FIFO that this side keeps open for writing commands. Opened read
  // and write here, so that neither this open nor the child's read-only one waits for the
  // other end.
  static std::atomic<int> next_id{0};
  commands_path_ = (std::filesystem::temp_directory_path() /
                    ("triggerd-kafka-mock-" + std::to_string(::getpid()) + "-" +
                     std::to_string(next_id++) + ".fifo"))
                       .string();
  ::unlink(commands_path_.c_str());
  if (::mkfifo(commands_path_.c_str(), 0600) != 0 ||
      (commands_fd_ = ::open(commands_path_.c_str(), O_RDWR | O_CLOEXEC)) < 0) {
    throw std::runtime_error("kafka_mock_cluster: cannot make its command FIFO: " +
                             std::string(std::strerror(errno)));
  }
  ProcessOptions options;
  options.stdin_file = commands_path_;
  process_ = std::make_unique<ChildProcess>(KAFKA_MOCK_CLUSTER_BINARY, args, options);
  const bool printed = wait_until(
      [&] {
        const std::string out = process_->out();
        const auto newline = out.find('\n');
        if (newline == std::string::npos) return false;
        bootstrap_ = out.substr(0, newline);
        return true;
      },
      std::chrono::seconds(10));
  if (!printed || bootstrap_.empty()) {
    throw std::runtime_error("kafka_mock_cluster did not start: " + process_->out() +
                             process_->err());
  }
}

KafkaCluster::~KafkaCluster() {
  process_.reset();  // kills and reaps
  if (commands_fd_ >= 0) ::close(commands_fd_);
  ::unlink(commands_path_.c_str());
}

void KafkaCluster::command(const std::string& line) {
  const std::string text = line + "\n";
  if (::write(commands_fd_, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    throw std::runtime_error("kafka_mock_cluster: cannot send " + line);
  }
  ++answers_;
  // Answers come one a line after the bootstrap line, in order.
  std::string answer;
  const bool answered = wait_until(
      [&] {
        const std::string out = process_->out();
        std::size_t lines = 0;
        std::string::size_type start = out.find('\n');
        while (start != std::string::npos && start + 1 < out.size()) {
          const auto end = out.find('\n', start + 1);
          if (end == std::string::npos) break;
          if (++lines == answers_) {
            answer = out.substr(start + 1, end - start - 1);
            return true;
          }
          start = end;
        }
        return false;
      },
      std::chrono::seconds(10));
  if (!answered || answer != "ok") {
    throw std::runtime_error("kafka_mock_cluster: " + line + ": " +
                             (answered ? answer : "no answer"));
  }
}

void KafkaCluster::fail_commits(int count, int error) {
  constexpr int kOffsetCommit = 8;  // the Kafka protocol's ApiKey
  command("fail " + std::to_string(kOffsetCommit) + " " + std::to_string(count) + " " +
          std::to_string(error));
}

void KafkaCluster::set_broker_down(int id, bool down) {
  command((down ? "down " : "up ") + std::to_string(id));
}

void KafkaCluster::kill() {
  process_->send_signal(SIGKILL);
  process_->wait_for_exit(std::chrono::seconds(10));
}

void KafkaCluster::produce(const std::string& topic, const std::vector<KafkaMessage>& messages) {
  std::atomic<int> failed{0};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", bootstrap_);
  set(conf, "linger.ms", "5");
  set(conf, "log_level", "3");
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, &failed);
  HandlePtr producer = make_handle(RD_KAFKA_PRODUCER, conf);
  for (const auto& message : messages) {
    rd_kafka_headers_t* headers = rd_kafka_headers_new(message.headers.size());
    for (const auto& [name, value] : message.headers) {
      rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                          static_cast<ssize_t>(value.size()));
    }
    // Locals, not expressions: the librdkafka macros cast their arguments without parentheses.
    const void* key = message.key ? message.key->data() : nullptr;
    const std::size_t key_size = message.key ? message.key->size() : 0;
    for (;;) {
      const rd_kafka_resp_err_t err = rd_kafka_producev(
          producer.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
          RD_KAFKA_V_PARTITION(message.partition.value_or(RD_KAFKA_PARTITION_UA)),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_VALUE(const_cast<char*>(message.value.data()), message.value.size()),
          RD_KAFKA_V_KEY(key, key_size), RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;  // the producer owns the headers now
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_headers_destroy(headers);
        throw std::runtime_error(std::string("kafka produce: ") + rd_kafka_err2str(err));
      }
      rd_kafka_poll(producer.get(), 50);  // make room: serve delivery reports
    }
    rd_kafka_poll(producer.get(), 0);
  }
  if (rd_kafka_flush(producer.get(), 30000) != RD_KAFKA_RESP_ERR_NO_ERROR || failed.load() != 0) {
    throw std::runtime_error("kafka produce: " + std::to_string(failed.load()) +
                             " messages not delivered (or flush timed out)");
  }
}

void KafkaCluster::produce_spread(const std::string& topic, int partitions, int count,
                                  const std::string& prefix) {
  std::vector<KafkaMessage> messages;
  messages.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    messages.push_back(KafkaMessage{std::nullopt, prefix + std::to_string(i), {}, i % partitions});
  }
  produce(topic, messages);
}

void KafkaCluster::produce_with_kcat(const std::string& topic,
                                     const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  const TempFile input(text, ".txt");
  ProcessOptions options;
  options.stdin_file = input.path();
  const RunResult result =
      run_process("kcat", {"-P", "-b", bootstrap_, "-t", topic}, options, std::chrono::seconds(20));
  if (result.exit_code != 0) {
    throw std::runtime_error("kcat -P failed: " + result.out + result.err);
  }
}

std::vector<std::int64_t> KafkaCluster::committed(const std::string& group,
                                                  const std::string& topic, int partitions) {
  return KafkaGroupView(bootstrap_, group).committed(topic, partitions);
}

std::vector<std::int64_t> KafkaCluster::end_offsets(const std::string& topic, int partitions) {
  std::vector<std::int64_t> offsets;
  for (const auto& [low, high] :
       KafkaGroupView(bootstrap_, "triggerd-test-watermarks").watermarks(topic, partitions)) {
    offsets.push_back(high);
  }
  return offsets;
}

std::vector<KafkaRecord> KafkaCluster::read_all(const std::string& topic, std::size_t count,
                                                std::chrono::milliseconds timeout) {
  HandlePtr consumer = make_consumer(bootstrap_, "triggerd-test-reader");
  // Assign every partition from the beginning: no group membership, nothing committed.
  const rd_kafka_metadata_t* metadata = nullptr;
  rd_kafka_topic_t* topic_handle = rd_kafka_topic_new(consumer.get(), topic.c_str(), nullptr);
  const rd_kafka_resp_err_t err =
      rd_kafka_metadata(consumer.get(), 0, topic_handle, &metadata, 10000);
  rd_kafka_topic_destroy(topic_handle);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR || metadata->topic_cnt != 1) {
    if (metadata != nullptr) rd_kafka_metadata_destroy(metadata);
    throw std::runtime_error(std::string("kafka metadata: ") + rd_kafka_err2str(err));
  }
  PartitionListPtr list(rd_kafka_topic_partition_list_new(metadata->topics[0].partition_cnt));
  for (int i = 0; i < metadata->topics[0].partition_cnt; ++i) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(),
                                      metadata->topics[0].partitions[i].id)
        ->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_metadata_destroy(metadata);
  rd_kafka_assign(consumer.get(), list.get());

  std::vector<KafkaRecord> records;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (records.size() < count && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer.get(), 100);
    if (message == nullptr) continue;
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      KafkaRecord record;
      record.partition = message->partition;
      record.offset = message->offset;
      if (message->key != nullptr) {
        record.key = std::string(static_cast<const char*>(message->key), message->key_len);
      }
      record.value.assign(static_cast<const char*>(message->payload), message->len);
      rd_kafka_headers_t* headers = nullptr;
      if (rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name = nullptr;
        const void* value = nullptr;
        std::size_t size = 0;
        for (std::size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) ==
                                RD_KAFKA_RESP_ERR_NO_ERROR;
             ++i) {
          record.headers.emplace_back(
              name, value != nullptr ? std::string(static_cast<const char*>(value), size) : "");
        }
      }
      records.push_back(std::move(record));
    }
    rd_kafka_message_destroy(message);
  }
  rd_kafka_consumer_close(consumer.get());
  return records;
}

KafkaGroupView::KafkaGroupView(const std::string& bootstrap, const std::string& group)
    : consumer_(make_consumer(bootstrap, group).release()) {}

KafkaGroupView::~KafkaGroupView() {
  // It never joined: nothing to leave.
  rd_kafka_destroy_flags(consumer_, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

std::vector<std::int64_t> KafkaGroupView::committed(const std::string& topic, int partitions) {
  PartitionListPtr list(rd_kafka_topic_partition_list_new(partitions));
  for (int partition = 0; partition < partitions; ++partition) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition);
  }
  const rd_kafka_resp_err_t err = rd_kafka_committed(consumer_, list.get(), 10000);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error(std::string("kafka committed: ") + rd_kafka_err2str(err));
  }
  std::vector<std::int64_t> offsets(static_cast<std::size_t>(partitions), -1);
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& entry = list->elems[i];
    offsets.at(static_cast<std::size_t>(entry.partition)) = entry.offset < 0 ? -1 : entry.offset;
  }
  return offsets;
}

std::vector<std::pair<std::int64_t, std::int64_t>> KafkaGroupView::watermarks(
    const std::string& topic, int partitions) {
  std::vector<std::pair<std::int64_t, std::int64_t>> marks;
  for (int partition = 0; partition < partitions; ++partition) {
    std::int64_t low = 0;
    std::int64_t high = 0;
    const rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
        consumer_, topic.c_str(), partition, &low, &high, 10000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error(std::string("kafka watermarks: ") + rd_kafka_err2str(err));
    }
    marks.emplace_back(low, high);
  }
  return marks;
}

struct KafkaGroupMember::State {
  HandlePtr consumer;
  std::atomic<bool> stop{false};
  mutable std::mutex mutex;
  std::vector<int> assigned;  // under mutex
  std::thread poller;
};

KafkaGroupMember::KafkaGroupMember(const std::string& bootstrap, const std::string& group,
                                   const std::string& topic)
    : state_(std::make_unique<State>()) {
  state_->consumer = make_consumer(bootstrap, group, "6000");
  PartitionListPtr topics(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(topics.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  const rd_kafka_resp_err_t err = rd_kafka_subscribe(state_->consumer.get(), topics.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error(std::string("kafka subscribe: ") + rd_kafka_err2str(err));
  }
  State* state = state_.get();
  state_->poller = std::thread([state] {
    // Polling serves the rebalances (librdkafka assigns by itself without a rebalance
    // callback); what it fetches is dropped.
    while (!state->stop) {
      if (rd_kafka_message_t* message = rd_kafka_consumer_poll(state->consumer.get(), 50)) {
        rd_kafka_message_destroy(message);
      }
      rd_kafka_topic_partition_list_t* assignment = nullptr;
      if (rd_kafka_assignment(state->consumer.get(), &assignment) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        std::vector<int> partitions;
        for (int i = 0; i < assignment->cnt; ++i) {
          partitions.push_back(assignment->elems[i].partition);
        }
        rd_kafka_topic_partition_list_destroy(assignment);
        std::lock_guard lock(state->mutex);
        state->assigned = std::move(partitions);
      }
    }
  });
}

KafkaGroupMember::~KafkaGroupMember() {
  state_->stop = true;
  state_->poller.join();
  rd_kafka_consumer_close(state_->consumer.get());
}

std::vector<int> KafkaGroupMember::assigned() const {
  std::lock_guard lock(state_->mutex);
  return state_->assigned;
}

}  // namespace triggerd::testing
