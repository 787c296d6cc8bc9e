#pragma once
// What the fault cases share: the queue a case runs against (a real redis-server or the mock
// Kafka cluster, behind one small interface), the config of a triggerd replica bound to it, a
// replica started from that config and looked at from the outside (metrics, log, signals), the
// wait until every event sent is accounted for, and the fixture a case starts from.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "tests/faults/ledger.hpp"
#include "tests/function_stub/function_stub.hpp"
#include "tests/support/temp_file.hpp"
#include "tests/support/triggerd_process.hpp"

namespace triggerd::testing {

using namespace std::chrono_literals;

class RedisServer;

enum class SourceKind { kRedisStream, kRedisList, kKafka };

// "redis-stream", "redis-list", "kafka": the source type, and the first column of the table.
std::string source_type(SourceKind kind);
// "RedisStream", ...: the suffix of a parameterized test's name.
std::string source_test_name(SourceKind kind);

// How gtest prints the parameter of a failing case.
inline void PrintTo(SourceKind kind, std::ostream* out) { *out << source_type(kind); }

// Names a case parameterized by source after it: "Case/RedisStream".
inline std::string source_param_name(const ::testing::TestParamInfo<SourceKind>& info) {
  return source_test_name(info.param);
}

// What a case runs against unless it needs what only some sources have.
inline constexpr SourceKind kEverySource[] = {SourceKind::kRedisStream, SourceKind::kRedisList,
                                              SourceKind::kKafka};

// Every case's trigger has this name.
inline constexpr const char* kTrigger = "faults";

// How a case's trigger delivers. The defaults keep every case short: one attempt times out
// after 1 s, retries come 50 ms apart, and there are enough of them to outlast any fault a
// case injects.
struct DeliverySettings {
  std::string function_url;
  std::string function_timeout = "1s";
  int max_inflight = 10;
  int retries = 200;
  std::string backoff = "{policy: constant, delay: 50ms, max: 50ms}";
  std::string dead_letter_url;  // an http dead letter; empty: none
  std::string shutdown_timeout = "5s";
};

struct QueueOptions {
  bool durable = false;           // redis: append-only file, for cases that restart the server
  std::string claim_idle = "2s";  // redis-stream
};

// The queue a trigger reads from, as a case drives it.
class Queue {
 public:
  static std::unique_ptr<Queue> make(SourceKind kind, const QueueOptions& options = {});
  virtual ~Queue() = default;

  virtual SourceKind kind() const = 0;
  // The `connections:` entry named `q` (indented by 2).
  virtual std::string connection_yaml() const = 0;
  // The trigger's `source:` block (indented by 4). `consumer` names the replica where the
  // source has consumer names (redis-stream always; redis-list only when `name_consumer`, as
  // two replicas on one host must be told apart; kafka replicas share the group).
  virtual std::string source_yaml(const std::string& consumer, bool name_consumer) const = 0;
  // Puts the ids on the queue, in this order, as payloads.
  virtual void send(const std::vector<std::string>& ids) = 0;
  // True when everything sent was acknowledged at the source: nothing waits, nothing is
  // pending or held in a processing list, every offset committed.
  virtual bool settled() = 0;
  // What is left at the source, for a failure message.
  virtual std::string describe() = 0;
  // The redis-server (redis sources only): for the cases that restart it.
  virtual RedisServer* redis() { return nullptr; }
  // Makes the queue unreachable, keeping what it holds: a Redis server stops (writing its
  // append-only file: make the queue `durable`); the Kafka cluster is frozen (SIGSTOP), so
  // that connections to it hang as to a broker that went away without a word.
  virtual void take_down() = 0;
  // Brings it back where it was.
  virtual void bring_back() = 0;
};

// A whole config for one replica: connection `q`, function `fn`, trigger `faults`.
std::string replica_config(const Queue& queue, const DeliverySettings& settings,
                           const std::string& consumer, bool name_consumer = false);

// One triggerd process of a case.
class Replica {
 public:
  // Starts `triggerd run` on `config` (kept in a temp file for restarts).
  Replica(std::string name, const std::string& config);
  ~Replica();
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  const std::string& name() const { return name_; }
  bool up() const { return process_ != nullptr; }
  TriggerdProcess& process() { return *process_; }

  // Starts it again on the same config (after kill() or terminate()).
  void restart();
  // SIGKILL, and waits until it is gone.
  void kill();
  // SIGTERM; the exit code, or nothing if it still runs after `timeout` (then killed).
  std::optional<int> terminate(std::chrono::milliseconds timeout);
  // Replaces its config file with `config` (renamed over it) and SIGHUPs; true once the reload
  // is counted as a success. Restarts use the new config from then on.
  bool reload(const std::string& config);

  // The sample `NAME{LABELS,trigger="faults"}` on /metrics (LABELS in alphabetical order, as
  // triggerd writes them, e.g. `result="timeout"`); nothing when absent or not answering.
  std::optional<double> metric(const std::string& name, const std::string& labels = "");
  // What it logged so far (of the current process, and of the ones before a restart).
  std::string log();

  // GET /v1/triggers/faults, as an autoscaler reads it (the body, or the error).
  std::string status();
  // Waits until that says nothing is left: queue_depth, inflight and backlog 0, active false.
  bool reports_idle(std::chrono::milliseconds timeout = 15s);

 private:
  std::string name_;
  TempFile config_;
  std::unique_ptr<TriggerdProcess> process_;
  std::string earlier_logs_;
};

// Waits until nothing is lost by the ledger's count (after `refresh` reads the function's and
// the dead letter's side into it) and the queue is settled, or `timeout` passes; then waits
// `quiet` so that a late duplicate shows, and refreshes once more. True when it got there.
bool wait_until_accounted(Ledger& ledger, Queue& queue, const std::function<void()>& refresh,
                          std::chrono::milliseconds timeout = 30s,
                          std::chrono::milliseconds quiet = 500ms);

// Waits until `text` appears in the replica's log.
bool wait_for_log(Replica& replica, const std::string& text,
                  std::chrono::milliseconds timeout = 20s);

// TRIGGERD_FAULTS_SOAK=1: the longer variants run; otherwise they are skipped.
bool soak_enabled();

// A fault case, run once per source (the test's parameter): the function stub, the queue, and
// what every case does with them.
class FaultCase : public ::testing::TestWithParam<SourceKind> {
 protected:
  // Made by the case (or its SetUp), with the options it needs.
  void make_queue(const QueueOptions& options = {}) { queue_ = Queue::make(GetParam(), options); }

  Ledger ledger(const std::string& fault) const { return Ledger(source_type(GetParam()), fault); }

  // The defaults, delivering to the stub's /fn.
  DeliverySettings settings() const {
    DeliverySettings settings;
    settings.function_url = function_.url("/fn");
    return settings;
  }

  // One replica goes by the source's default consumer name where it has one (redis-list: the
  // host name); two replicas on this one host need a name each.
  std::string config(const DeliverySettings& settings, const std::string& consumer,
                     bool name_consumer = false) const {
    return replica_config(*queue_, settings, consumer, name_consumer);
  }

  // The one replica of a case, "a".
  std::unique_ptr<Replica> start_replica(const DeliverySettings& settings) const {
    return std::make_unique<Replica>("a", config(settings, "replica-a"));
  }

  // wait_until_accounted, by what the stub saw (`ok`: which of its requests it answered 2xx).
  bool accounted(Ledger& ledger, std::chrono::milliseconds timeout = 40s,
                 const Ledger::AnsweredOk& ok = Ledger::always_ok) {
    return wait_until_accounted(
        ledger, *queue_, [&] { ledger.function_saw(function_.requests(), ok); }, timeout);
  }

  FunctionStub function_;
  std::unique_ptr<Queue> queue_;
};

}  // namespace triggerd::testing
