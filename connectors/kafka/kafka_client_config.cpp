#include "connectors/kafka/kafka_client_config.hpp"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include "core/background_thread.hpp"
#include "core/logging.hpp"

namespace triggerd::kafka {
namespace {

// Called on librdkafka's threads; spdlog's loggers are thread-safe.
void forward_log(const rd_kafka_t* /*client*/, int level, const char* facility, const char* text) {
  static const std::shared_ptr<spdlog::logger> log = logging::get("kafka");
  // Every client gets the connection's options, and librdkafka warns about each one that is
  // meant for the other kind of client: expected, so not worth a warning.
  const bool expected = std::string_view(facility) == "CONFWARN";
  if (level <= 3) {
    log->error("librdkafka {}: {}", facility, text);
  } else if (level == 4 && !expected) {
    log->warn("librdkafka {}: {}", facility, text);
  } else if (level <= 6 && !expected) {
    log->info("librdkafka {}: {}", facility, text);
  } else {
    log->debug("librdkafka {}: {}", facility, text);
  }
}

// librdkafka's threads (main, one per broker, ...) start in here.
rd_kafka_resp_err_t on_thread_start(rd_kafka_t* /*client*/, rd_kafka_thread_type_t /*type*/,
                                    const char* /*name*/, void* /*opaque*/) {
  make_background_thread();
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}

// Called by rd_kafka_new() before the client starts any thread.
rd_kafka_resp_err_t on_new(rd_kafka_t* client, const rd_kafka_conf_t* /*conf*/, void* /*opaque*/,
                           char* /*error*/, std::size_t /*error_size*/) {
  return rd_kafka_interceptor_add_on_thread_start(client, "triggerd-threads", on_thread_start,
                                                  nullptr);
}

}  // namespace

std::string join_brokers(const config::KafkaConnection& connection) {
  std::string joined;
  for (const auto& broker : connection.brokers) {
    if (!joined.empty()) joined += ',';
    joined += broker;
  }
  return joined;
}

rd_kafka_conf_s* make_kafka_conf(const config::KafkaConnection& connection, std::string_view owner,
                                 const KafkaSettings& defaults, const KafkaSettings& settings) {
  const auto log = logging::get("kafka");
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const std::string& name, const std::string& value, bool secret) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error, sizeof(error)) ==
        RD_KAFKA_CONF_OK) {
      return true;
    }
    // librdkafka's message may quote the value: never log it for the operator's options.
    if (secret) {
      log->error("{}: kafka option {} is not accepted", owner, name);
    } else {
      log->error("{}: kafka option {}: {}", owner, name, error);
    }
    return false;
  };
  bool ok = set("bootstrap.servers", join_brokers(connection), false);
  for (const auto& [name, value] : defaults) ok = ok && set(name, value, false);
  for (const auto& [name, value] : connection.options) ok = ok && set(name, value.reveal(), true);
  for (const auto& [name, value] : settings) ok = ok && set(name, value, false);
  if (!ok) {
    rd_kafka_conf_destroy(conf);
    return nullptr;
  }
  rd_kafka_conf_set_log_cb(conf, forward_log);
  // librdkafka's threads never preempt the event loop (core/background_thread.hpp).
  rd_kafka_conf_interceptor_add_on_new(conf, "triggerd-threads", on_new, nullptr);
  return conf;
}

}  // namespace triggerd::kafka
