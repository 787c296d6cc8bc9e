#pragma once
// A mock Kafka cluster for a test: the kafka_mock_cluster helper (librdkafka's mock brokers)
// run as a child process, so that the real triggerd binary reaches it over 127.0.0.1 like a
// real cluster. Plus blocking test-side clients: a librdkafka producer, kcat as an outside
// producer, committed and end offsets, and reading a topic back (dead letters).
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/process.hpp"

struct rd_kafka_s;

namespace triggerd::testing {

struct KafkaTopic {
  std::string name;
  int partitions = 1;
};

struct KafkaMessage {
  std::optional<std::string> key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
  // Where it goes; nothing: the producer's partitioner (by key, else sticky).
  std::optional<int> partition;
};

// A message read back from the cluster.
struct KafkaRecord {
  int partition = 0;
  std::int64_t offset = 0;
  std::optional<std::string> key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<std::string> header(const std::string& name) const;
};

class KafkaCluster {
 public:
  // Starts the mock cluster with `topics` created. Throws std::runtime_error (with what the
  // helper printed) if it does not print its address within 10 s.
  explicit KafkaCluster(const std::vector<KafkaTopic>& topics, int brokers = 1);
  ~KafkaCluster();
  KafkaCluster(const KafkaCluster&) = delete;
  KafkaCluster& operator=(const KafkaCluster&) = delete;

  // The bootstrap servers ("127.0.0.1:PORT,...").
  const std::string& bootstrap() const { return bootstrap_; }

  // Produces with a librdkafka producer in the test process and waits for every delivery
  // report. Throws std::runtime_error if any message was not delivered.
  void produce(const std::string& topic, const std::vector<KafkaMessage>& messages);
  // Produces `count` messages with values "PREFIX0".."PREFIX<count-1>" and no key, spread
  // round-robin over `partitions` partitions.
  void produce_spread(const std::string& topic, int partitions, int count,
                      const std::string& prefix = "m");
  // Produces one message per line of `lines` with `kcat -P` (an outside client). Throws if kcat
  // fails.
  void produce_with_kcat(const std::string& topic, const std::vector<std::string>& lines);

  // The committed offset of `group` per partition (index = partition; -1: none committed).
  std::vector<std::int64_t> committed(const std::string& group, const std::string& topic,
                                      int partitions);
  // The high watermark (end offset) per partition.
  std::vector<std::int64_t> end_offsets(const std::string& topic, int partitions);
  // Reads `topic` from the beginning (no group) until `count` messages have arrived or
  // `timeout` passes; returns what it got.
  std::vector<KafkaRecord> read_all(const std::string& topic, std::size_t count,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Faults. Each returns once the cluster has applied it; throws std::runtime_error if the
  // helper refuses it or does not answer.
  // The next `count` offset commits (from any client) fail with Kafka error `error`.
  void fail_commits(int count, int error);
  // Broker `id` (1..brokers) drops its connections and refuses new ones, or takes them again.
  void set_broker_down(int id, bool down);
  // Kills the helper (SIGKILL): every broker is gone at once, connections reset.
  void kill();

 private:
  void command(const std::string& line);

  int commands_fd_ = -1;  // the write end of the helper's stdin (a FIFO)
  std::string commands_path_;
  std::size_t answers_ = 0;
  std::unique_ptr<ChildProcess> process_;
  std::string bootstrap_;
};

// One consumer group's queue as Kafka holds it, read from the test by a client that has the
// group's id but never joins the group, so reading changes nothing: the ground truth that
// triggerd's figures are compared with. Blocking; throws std::runtime_error when Kafka does not
// answer within 10 s.
class KafkaGroupView {
 public:
  KafkaGroupView(const std::string& bootstrap, const std::string& group);
  ~KafkaGroupView();
  KafkaGroupView(const KafkaGroupView&) = delete;
  KafkaGroupView& operator=(const KafkaGroupView&) = delete;

  // The committed offset per partition (index = partition; -1: none committed).
  std::vector<std::int64_t> committed(const std::string& topic, int partitions);
  // The low and high watermark per partition.
  std::vector<std::pair<std::int64_t, std::int64_t>> watermarks(const std::string& topic,
                                                                int partitions);

 private:
  rd_kafka_s* consumer_ = nullptr;
};

// A member of a consumer group that is not triggerd: it subscribes to `topic`, takes part in
// the group's rebalances on a thread of its own, drops what it fetches and never commits, so
// that its partitions keep whatever the group had committed (nothing, in a fresh group).
class KafkaGroupMember {
 public:
  // Session timeout: 6 s, as the tests' triggerd uses (the mock cluster's rebalances wait
  // about one).
  KafkaGroupMember(const std::string& bootstrap, const std::string& group,
                   const std::string& topic);
  ~KafkaGroupMember();  // leaves the group
  KafkaGroupMember(const KafkaGroupMember&) = delete;
  KafkaGroupMember& operator=(const KafkaGroupMember&) = delete;

  // The partitions of `topic` assigned to it now.
  std::vector<int> assigned() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace triggerd::testing
