#include "tests/faults/fault_harness.hpp"

#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

#include "tests/support/http_client.hpp"
#include "tests/support/kafka_cluster.hpp"
#include "tests/support/metrics_text.hpp"
#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"

namespace triggerd::testing {
namespace {

constexpr const char* kQueueName = "faults";  // the stream, list or topic
constexpr const char* kKafkaGroup = "g-faults";
constexpr int kKafkaPartitions = 4;

boost::json::value parse_or_null(const std::string& text) {
  boost::system::error_code error;
  boost::json::value value = boost::json::parse(text, error);
  return error ? boost::json::value(nullptr) : value;
}

// The pid of a child of this process whose /proc name is `comm`, or -1.
pid_t child_named(const std::string& comm) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string pid_text = entry.path().filename().string();
    if (pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses; it ends at the last ')'.
    const auto open = line.find('(');
    const auto close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close < open) continue;
    std::istringstream rest(line.substr(close + 1));
    char state = 0;
    pid_t parent = 0;
    rest >> state >> parent;
    if (parent == ::getpid() && line.substr(open + 1, close - open - 1) == comm) {
      return static_cast<pid_t>(std::stol(pid_text));
    }
  }
  return -1;
}

std::string join(const std::vector<std::int64_t>& values) {
  std::string text;
  for (const std::int64_t value : values) text += (text.empty() ? "" : ",") + std::to_string(value);
  return "[" + text + "]";
}

// What the two Redis queues share: a redis-server of their own, restarted in place, which the
// ids are written to in one pipeline.
class RedisQueue : public Queue {
 public:
  explicit RedisQueue(const QueueOptions& options)
      : server_(RedisServerOptions{.appendonly = options.durable}) {}

  std::string connection_yaml() const override {
    return "  q:\n    type: redis\n    address: " + server_.address() + "\n";
  }
  void send(const std::vector<std::string>& ids) override {
    std::vector<std::vector<std::string>> commands;
    commands.reserve(ids.size());
    for (const std::string& id : ids) commands.push_back(write_command(id));
    RedisTestClient(server_.port()).pipeline(commands);
  }
  bool settled() override {
    try {
      return nothing_left();
    } catch (const std::runtime_error&) {
      return false;  // the server is restarting
    }
  }
  RedisServer* redis() override { return &server_; }
  void take_down() override { server_.stop(); }
  void bring_back() override { server_.start(); }

 protected:
  // The command that puts `id` on the queue.
  virtual std::vector<std::string> write_command(const std::string& id) const = 0;
  // Whether every id written was acknowledged; throws std::runtime_error when the server does
  // not answer.
  virtual bool nothing_left() = 0;

  RedisServer server_;
};

class RedisStreamQueue final : public RedisQueue {
 public:
  explicit RedisStreamQueue(const QueueOptions& options)
      : RedisQueue(options), claim_idle_(options.claim_idle) {}

  SourceKind kind() const override { return SourceKind::kRedisStream; }
  std::string source_yaml(const std::string& consumer, bool) const override {
    return std::string("    source:\n      type: redis-stream\n      connection: q\n") +
           "      stream: " + kQueueName + "\n      consumer: " + consumer +
           "\n      start: \"0\"\n      claim_idle: " + claim_idle_ + "\n";
  }
  std::string describe() override {
    try {
      const auto [pending, lag] = pending_and_lag();
      return "stream: " + std::to_string(pending) + " pending, lag " + std::to_string(lag);
    } catch (const std::runtime_error& e) {
      return std::string("stream: ") + e.what();
    }
  }

 private:
  std::vector<std::string> write_command(const std::string& id) const override {
    return {"XADD", kQueueName, "*", "data", id};
  }
  bool nothing_left() override {
    const auto [pending, lag] = pending_and_lag();
    return pending == 0 && lag == 0;
  }

  // XPENDING's count and the group's lag (entries no consumer has read); -1 when unknown.
  std::pair<long long, long long> pending_and_lag() {
    RedisTestClient client(server_.port());
    long long pending = -1;
    ReplyPtr summary = client.command({"XPENDING", kQueueName, "triggerd"});
    if (summary->type == REDIS_REPLY_ARRAY && summary->elements > 0) {
      pending = summary->element[0]->integer;
    }
    long long lag = -1;
    ReplyPtr groups = client.command({"XINFO", "GROUPS", kQueueName});
    if (groups->type == REDIS_REPLY_ARRAY) {
      for (std::size_t g = 0; g < groups->elements; ++g) {
        const redisReply* group = groups->element[g];
        for (std::size_t i = 0; i + 1 < group->elements; i += 2) {
          if (std::string(group->element[i]->str) == "lag" &&
              group->element[i + 1]->type == REDIS_REPLY_INTEGER) {
            lag = group->element[i + 1]->integer;
          }
        }
      }
    }
    return {pending, lag};
  }

  std::string claim_idle_;
};

class RedisListQueue final : public RedisQueue {
 public:
  using RedisQueue::RedisQueue;

  SourceKind kind() const override { return SourceKind::kRedisList; }
  std::string source_yaml(const std::string& consumer, bool name_consumer) const override {
    return std::string("    source:\n      type: redis-list\n      connection: q\n") +
           "      list: " + kQueueName + "\n" +
           (name_consumer ? "      consumer: " + consumer + "\n" : "");
  }
  std::string describe() override {
    try {
      RedisTestClient client(server_.port());
      std::string text =
          "list: " + std::to_string(client.integer({"LLEN", kQueueName})) + " waiting";
      for (const auto& [list, length] : processing(client)) {
        text += ", " + std::to_string(length) + " in " + list;
      }
      // The consumers the sources know of (they return a dead one's processing list).
      ReplyPtr consumers = client.command({"SMEMBERS", std::string(kQueueName) + ":consumers"});
      text += "; consumers:";
      for (std::size_t i = 0; consumers->type == REDIS_REPLY_ARRAY && i < consumers->elements;
           ++i) {
        text += std::string(" ") + consumers->element[i]->str;
      }
      return text;
    } catch (const std::runtime_error& e) {
      return std::string("list: ") + e.what();
    }
  }

 private:
  std::vector<std::string> write_command(const std::string& id) const override {
    return {"LPUSH", kQueueName, id};
  }
  bool nothing_left() override {
    RedisTestClient client(server_.port());
    long long left = client.integer({"LLEN", kQueueName});
    for (const auto& entry : processing(client)) left += entry.second;
    return left == 0;
  }

  // The processing lists (taken, not yet acknowledged) and their lengths.
  static std::vector<std::pair<std::string, long long>> processing(RedisTestClient& client) {
    std::vector<std::pair<std::string, long long>> lists;
    ReplyPtr keys = client.command({"KEYS", std::string(kQueueName) + ":processing:*"});
    for (std::size_t i = 0; keys->type == REDIS_REPLY_ARRAY && i < keys->elements; ++i) {
      lists.emplace_back(keys->element[i]->str, client.integer({"LLEN", keys->element[i]->str}));
    }
    return lists;
  }
};

class KafkaQueue final : public Queue {
 public:
  KafkaQueue() : cluster_({{kQueueName, kKafkaPartitions}}) {}

  SourceKind kind() const override { return SourceKind::kKafka; }
  std::string connection_yaml() const override {
    // A killed member holds its partitions until its session times out: short, so that a
    // case's survivor or restart takes over within seconds (6 s is the brokers' minimum).
    return "  q:\n    type: kafka\n    brokers: \"" + cluster_.bootstrap() +
           "\"\n    options:\n      session.timeout.ms: \"6000\"\n"
           "      heartbeat.interval.ms: \"500\"\n";
  }
  std::string source_yaml(const std::string&, bool) const override {
    return std::string("    source:\n      type: kafka\n      connection: q\n") +
           "      topic: " + kQueueName + "\n      group: " + kKafkaGroup +
           "\n      start: earliest\n";
  }
  void send(const std::vector<std::string>& ids) override {
    std::vector<KafkaMessage> messages;
    messages.reserve(ids.size());
    for (const std::string& id : ids) {
      messages.push_back(KafkaMessage{std::nullopt, id, {}, next_partition_++ % kKafkaPartitions});
    }
    cluster_.produce(kQueueName, messages);
  }
  bool settled() override {
    const std::vector<std::int64_t> ends = cluster_.end_offsets(kQueueName, kKafkaPartitions);
    const std::vector<std::int64_t> committed =
        cluster_.committed(kKafkaGroup, kQueueName, kKafkaPartitions);
    if (ends.size() != committed.size()) return false;
    for (std::size_t p = 0; p < ends.size(); ++p) {
      // A partition that never had a message has nothing to commit.
      if (ends[p] > 0 && committed[p] < ends[p]) return false;
    }
    return true;
  }
  void take_down() override { signal_cluster(SIGSTOP); }
  void bring_back() override { signal_cluster(SIGCONT); }
  std::string describe() override {
    return "committed " + join(cluster_.committed(kKafkaGroup, kQueueName, kKafkaPartitions)) +
           " of " + join(cluster_.end_offsets(kQueueName, kKafkaPartitions));
  }

 private:
  // KafkaCluster keeps its process to itself; it is this test process's child running the
  // kafka_mock_cluster helper (its name cut to 15 characters in /proc).
  void signal_cluster(int signal) {
    const pid_t pid = child_named("kafka_mock_clus");
    if (pid <= 0) throw std::runtime_error("the kafka_mock_cluster process was not found");
    ::kill(pid, signal);
  }

  KafkaCluster cluster_;
  int next_partition_ = 0;
};

}  // namespace

struct SourceNames {
  SourceKind kind;
  const char* type;
  const char* test_name;
};

constexpr SourceNames kSourceNames[] = {
    {SourceKind::kRedisStream, "redis-stream", "RedisStream"},
    {SourceKind::kRedisList, "redis-list", "RedisList"},
    {SourceKind::kKafka, "kafka", "Kafka"},
};

std::string source_type(SourceKind kind) {
  for (const SourceNames& names : kSourceNames) {
    if (names.kind == kind) return names.type;
  }
  return "?";
}

std::string source_test_name(SourceKind kind) {
  for (const SourceNames& names : kSourceNames) {
    if (names.kind == kind) return names.test_name;
  }
  return "Unknown";
}

std::unique_ptr<Queue> Queue::make(SourceKind kind, const QueueOptions& options) {
  switch (kind) {
    case SourceKind::kRedisStream:
      return std::make_unique<RedisStreamQueue>(options);
    case SourceKind::kRedisList:
      return std::make_unique<RedisListQueue>(options);
    case SourceKind::kKafka:
      return std::make_unique<KafkaQueue>();
  }
  throw std::invalid_argument("unknown source kind");
}

std::string replica_config(const Queue& queue, const DeliverySettings& settings,
                           const std::string& consumer, bool name_consumer) {
  std::string text =
      "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  shutdown_timeout: " +
      settings.shutdown_timeout +
      "\nlog:\n  level: info\n"
      "connections:\n" +
      queue.connection_yaml() + "functions:\n  fn:\n    url: " + settings.function_url +
      "\n    timeout: " + settings.function_timeout +
      "\n    max_concurrency: 100\n"
      "triggers:\n  " +
      kTrigger + ":\n    function: fn\n" + queue.source_yaml(consumer, name_consumer) +
      "    delivery:\n      retries: " + std::to_string(settings.retries) +
      "\n      backoff: " + settings.backoff +
      "\n      max_inflight: " + std::to_string(settings.max_inflight) + "\n";
  if (!settings.dead_letter_url.empty()) {
    text += "      dead_letter: {type: http, url: " + settings.dead_letter_url + "}\n";
  }
  return text;
}

Replica::Replica(std::string name, const std::string& config)
    : name_(std::move(name)), config_(config) {
  restart();
}

Replica::~Replica() = default;  // TriggerdProcess kills what still runs

void Replica::restart() {
  if (process_) earlier_logs_ += process_->process().err();
  process_.reset();
  process_ = std::make_unique<TriggerdProcess>(config_.path());
}

bool Replica::reload(const std::string& config) {
  if (!process_) return false;
  auto successes = [&] {
    const HttpResponse response = http_get(process_->admin_port(), "/metrics");
    return sample(response.body, "triggerd_config_reloads_total{result=\"success\"}").value_or(-1);
  };
  const double before = successes();
  config_.write(config);
  process_->process().send_signal(SIGHUP);
  // The file watcher may reload it first; either way one more success.
  return wait_until([&] { return successes() > before; }, 10s);
}

void Replica::kill() {
  if (!process_) return;
  process_->process().send_signal(SIGKILL);
  process_->process().wait_for_exit(10s);
  earlier_logs_ += process_->process().err();
  process_.reset();
}

std::optional<int> Replica::terminate(std::chrono::milliseconds timeout) {
  if (!process_) return std::nullopt;
  process_->process().send_signal(SIGTERM);
  const std::optional<int> code = process_->process().wait_for_exit(timeout);
  earlier_logs_ += process_->process().err();
  process_.reset();
  return code;
}

std::optional<double> Replica::metric(const std::string& name, const std::string& labels) {
  if (!process_) return std::nullopt;
  const HttpResponse response = http_get(process_->admin_port(), "/metrics");
  if (response.status != 200) return std::nullopt;
  return sample(response.body, name + "{" + labels + (labels.empty() ? "" : ",") + "trigger=\"" +
                                   kTrigger + "\"}");
}

std::string Replica::status() {
  if (!process_) return "(not running)";
  const HttpResponse response =
      http_get(process_->admin_port(), std::string("/v1/triggers/") + kTrigger);
  return response.status == 200 ? response.body : "(" + response.error + ")";
}

bool Replica::reports_idle(std::chrono::milliseconds timeout) {
  return wait_until(
      [&] {
        const boost::json::value status = parse_or_null(this->status());
        if (!status.is_object()) return false;
        const boost::json::object& fields = status.as_object();
        auto number = [&](const char* name) {
          const boost::json::value* value = fields.if_contains(name);
          return value != nullptr && value->is_int64() ? value->as_int64() : -1;
        };
        const boost::json::value* active = fields.if_contains("active");
        return number("queue_depth") == 0 && number("inflight") == 0 && number("backlog") == 0 &&
               active != nullptr && active->is_bool() && !active->as_bool();
      },
      timeout);
}

std::string Replica::log() {
  return earlier_logs_ + (process_ ? process_->process().err() : std::string());
}

bool wait_until_accounted(Ledger& ledger, Queue& queue, const std::function<void()>& refresh,
                          std::chrono::milliseconds timeout, std::chrono::milliseconds quiet) {
  // Not wait_until's 20 ms: each look copies every recorded request, and a Kafka queue's
  // look starts two clients.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool done = false;
  while (!done && std::chrono::steady_clock::now() < deadline) {
    refresh();
    done = ledger.tally().lost == 0 && queue.settled();
    if (!done) std::this_thread::sleep_for(200ms);
  }
  if (done) std::this_thread::sleep_for(quiet);
  refresh();
  return done;
}

bool wait_for_log(Replica& replica, const std::string& text, std::chrono::milliseconds timeout) {
  return wait_until([&] { return replica.log().find(text) != std::string::npos; }, timeout);
}

bool soak_enabled() {
  const char* flag = std::getenv("TRIGGERD_FAULTS_SOAK");
  return flag != nullptr && std::string(flag) == "1";
}

}  // namespace triggerd::testing
