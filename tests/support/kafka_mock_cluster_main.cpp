// kafka_mock_cluster: a librdkafka mock Kafka cluster in its own process, for tests that run
// the real triggerd binary (which must reach the brokers over TCP). Topics can only be created
// through the in-process mock handle, so they are given as flags:
//   kafka_mock_cluster [--brokers N] [--topic NAME:PARTITIONS]...
// Prints the bootstrap address (one line) on stdout once the topics exist, then runs until
// SIGTERM or SIGINT. Faults are injected by commands on stdin, one a line, each answered with
// "ok" (or "error: ...") on stdout once applied:
//   fail API_KEY COUNT ERROR   the next COUNT requests of that API (8: OffsetCommit) fail
//                              with ERROR (a Kafka error code)
//   down BROKER_ID / up BROKER_ID   a broker drops its connections and refuses new ones
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

// Applies one command line; returns what to answer.
std::string run_command(rd_kafka_mock_cluster_t* cluster, const std::string& line) {
  std::istringstream words(line);
  std::string command;
  words >> command;
  if (command == "fail") {
    int api = 0;
    int count = 0;
    int error = 0;
    if (!(words >> api >> count >> error) || count < 1) return "error: fail API COUNT ERROR";
    const std::vector<rd_kafka_resp_err_t> errors(static_cast<std::size_t>(count),
                                                  static_cast<rd_kafka_resp_err_t>(error));
    rd_kafka_mock_push_request_errors_array(cluster, static_cast<std::int16_t>(api), errors.size(),
                                            errors.data());
    return "ok";
  }
  if (command == "down" || command == "up") {
    int broker = 0;
    if (!(words >> broker)) return "error: " + command + " BROKER_ID";
    const rd_kafka_resp_err_t err = command == "down"
                                        ? rd_kafka_mock_broker_set_down(cluster, broker)
                                        : rd_kafka_mock_broker_set_up(cluster, broker);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return std::string("error: ") + rd_kafka_err2str(err);
    return "ok";
  }
  return "error: unknown command " + command;
}

int usage(const char* message) {
  std::fprintf(stderr,
               "kafka_mock_cluster: %s\nusage: kafka_mock_cluster [--brokers N] "
               "[--topic NAME:PARTITIONS]...\n",
               message);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int brokers = 1;
  std::vector<std::pair<std::string, int>> topics;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return usage("missing value");
    const std::string value = argv[++i];
    if (arg == "--brokers") {
      brokers = std::atoi(value.c_str());
      if (brokers < 1) return usage("--brokers must be at least 1");
    } else if (arg == "--topic") {
      const auto colon = value.rfind(':');
      if (colon == std::string::npos || colon == 0) return usage("--topic wants NAME:PARTITIONS");
      const int partitions = std::atoi(value.c_str() + colon + 1);
      if (partitions < 1) return usage("--topic partitions must be at least 1");
      topics.emplace_back(value.substr(0, colon), partitions);
    } else {
      return usage("unknown flag");
    }
  }

  // Block the stop signals before librdkafka starts its threads, so that they all inherit the
  // mask and sigwait below is the only place they are taken.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The handle only hosts the mock cluster; keep it quiet.
  rd_kafka_conf_set(conf, "log_level", "3", error, sizeof(error));
  rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof(error));
  if (handle == nullptr) {
    std::fprintf(stderr, "kafka_mock_cluster: rd_kafka_new: %s\n", error);
    return 1;
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(handle, brokers);
  if (cluster == nullptr) {
    std::fprintf(stderr, "kafka_mock_cluster: could not create the mock cluster\n");
    rd_kafka_destroy(handle);
    return 1;
  }
  for (const auto& [name, partitions] : topics) {
    const rd_kafka_resp_err_t err =
        rd_kafka_mock_topic_create(cluster, name.c_str(), partitions, 1);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::fprintf(stderr, "kafka_mock_cluster: topic %s: %s\n", name.c_str(),
                   rd_kafka_err2str(err));
      rd_kafka_mock_cluster_destroy(cluster);
      rd_kafka_destroy(handle);
      return 1;
    }
  }
  std::printf("%s\n", rd_kafka_mock_cluster_bootstraps(cluster));
  std::fflush(stdout);

  // Ends with stdin (at once when it is /dev/null); the process lives on until a signal.
  std::thread commands([cluster] {
    for (std::string line; std::getline(std::cin, line);) {
      if (line.empty()) continue;
      std::printf("%s\n", run_command(cluster, line).c_str());
      std::fflush(stdout);
    }
  });
  commands.detach();

  int signal = 0;
  sigwait(&stop_signals, &signal);
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(handle);
  return 0;
}
