#include "connectors/kafka/kafka_dead_letter.hpp"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/logging.hpp"
#include "connectors/kafka/kafka_client_config.hpp"
#include "core/time_format.hpp"

namespace triggerd::kafka {

namespace asio = boost::asio;

namespace {

// librdkafka gives up on a message (and reports it timed out) after this long without an
// acknowledgement; the dispatcher then tries the dead letter again, within its retry budget.
constexpr const char* kMessageTimeoutMs = "30000";
constexpr int kPollTimeoutMs = 100;
constexpr int kFlushTimeoutMs = 2000;

// One write's outcome: set by the delivery report (on the event loop), awaited by write().
struct PendingWrite {
  explicit PendingWrite(asio::any_io_executor executor)
      : done(executor, asio::steady_timer::time_point::max()) {}
  asio::steady_timer done;  // never expires: cancelled when the report is in
  bool finished = false;
  rd_kafka_resp_err_t error = RD_KAFKA_RESP_ERR_NO_ERROR;
};

// The delivery report's opaque: owned by librdkafka from produce to report.
struct ReportTicket {
  std::shared_ptr<PendingWrite> pending;
  const std::atomic<bool>* detached;  // the sink is going: the event loop may be gone
};

void on_delivery_report(rd_kafka_t* /*producer*/, const rd_kafka_message_t* message,
                        void* /*opaque*/) {
  std::unique_ptr<ReportTicket> ticket(static_cast<ReportTicket*>(message->_private));
  if (!ticket || ticket->detached->load()) return;
  auto pending = std::move(ticket->pending);
  asio::post(pending->done.get_executor(), [pending, error = message->err] {
    pending->finished = true;
    pending->error = error;
    pending->done.cancel();
  });
}

void add_header(rd_kafka_headers_t* headers, const char* name, std::string_view value) {
  rd_kafka_header_add(headers, name, -1, value.data(), static_cast<ssize_t>(value.size()));
}

rd_kafka_headers_t* make_headers(const Event& event, const DeadLetterInfo& info) {
  rd_kafka_headers_t* headers = rd_kafka_headers_new(16 + event.attributes.size());
  add_header(headers, "ce_specversion", "1.0");
  add_header(headers, "ce_id", event.id);
  add_header(headers, "ce_source", event.source);
  add_header(headers, "ce_type", event.type);
  add_header(headers, "ce_time", format_rfc3339(event.time));
  if (!event.subject.empty()) add_header(headers, "ce_subject", event.subject);
  add_header(headers, "content-type",
             event.content_type.empty() ? "application/octet-stream" : event.content_type);
  for (const auto& [name, value] : event.attributes) {
    add_header(headers, ("ce_" + name).c_str(), value);
  }
  if (!event.traceparent.empty()) add_header(headers, "traceparent", event.traceparent);
  if (!event.tracestate.empty()) add_header(headers, "tracestate", event.tracestate);
  add_header(headers, "ce_trigger", info.trigger);
  add_header(headers, "ce_function", info.function);
  add_header(headers, "ce_attempts", std::to_string(info.attempts));
  if (info.last_status != 0) {
    add_header(headers, "ce_laststatus", std::to_string(info.last_status));
  } else {
    add_header(headers, "ce_lasterror", info.last_error);
  }
  add_header(headers, "ce_firstattempt", format_rfc3339(info.first_attempt));
  return headers;
}

}  // namespace

DeadLetterResult kafka_error_result(rd_kafka_resp_err_t error) {
  if (error == RD_KAFKA_RESP_ERR_NO_ERROR) return DeadLetterResult::accepted();
  std::string reason = rd_kafka_err2str(error);
  switch (error) {
    // The topic or partition is not there (librdkafka waited topic.metadata.propagation.max.ms
    // for a topic just created), or may not be written by this client.
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    // This message will never fit or never be valid for the topic.
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    // The producer itself is unusable.
    case RD_KAFKA_RESP_ERR__FATAL:
      return DeadLetterResult::permanent(std::move(reason));
    default:
      // Time-outs, a full local queue, brokers down, leaders moving: passing states, and any
      // error not named above, which the retry budget bounds.
      return DeadLetterResult::temporary(std::move(reason));
  }
}

KafkaDeadLetterSink::KafkaDeadLetterSink(asio::any_io_executor executor,
                                         const config::KafkaDeadLetter& spec,
                                         const config::KafkaConnection& connection)
    : executor_(executor), topic_(spec.topic), log_(logging::get("kafka")) {
  rd_kafka_conf_t* conf =
      make_kafka_conf(connection, "dead letter to topic " + topic_, {{"linger.ms", "5"}},
                      {{"acks", "all"}, {"message.timeout.ms", kMessageTimeoutMs}});
  if (conf == nullptr) return;  // logged; every write fails as permanent, counted by the caller
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery_report);
  char error[512];
  producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof(error));
  if (producer_ == nullptr) {
    rd_kafka_conf_destroy(conf);
    log_->error("dead letter to topic {}: cannot create kafka producer: {}", topic_, error);
    return;
  }
  poll_thread_ = std::thread([this] { poll_loop(); });
}

KafkaDeadLetterSink::~KafkaDeadLetterSink() {
  stopping_ = true;
  if (poll_thread_.joinable()) poll_thread_.join();
  if (producer_ == nullptr) return;
  detached_ = true;
  // What is still queued gets its chance; its writers are gone (the event is delivered again
  // from its source, since it was never acknowledged there).
  rd_kafka_flush(producer_, kFlushTimeoutMs);
  rd_kafka_destroy(producer_);
}

void KafkaDeadLetterSink::poll_loop() {
  while (!stopping_) rd_kafka_poll(producer_, kPollTimeoutMs);
}

asio::awaitable<DeadLetterResult> KafkaDeadLetterSink::write(const Event& event,
                                                             const DeadLetterInfo& info) {
  if (producer_ == nullptr) {
    co_return DeadLetterResult::permanent("no kafka producer: its configuration was refused");
  }
  auto pending = std::make_shared<PendingWrite>(executor_);
  auto ticket = std::make_unique<ReportTicket>(ReportTicket{pending, &detached_});
  rd_kafka_headers_t* headers = make_headers(event, info);
  const rd_kafka_resp_err_t err = rd_kafka_producev(
      producer_, RD_KAFKA_V_TOPIC(topic_.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_VALUE(const_cast<char*>(event.data.data()), event.data.size()),
      RD_KAFKA_V_KEY(event.subject.empty() ? nullptr : event.subject.data(), event.subject.size()),
      RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(ticket.get()), RD_KAFKA_V_END);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_headers_destroy(headers);  // only taken over on success
    DeadLetterResult result = kafka_error_result(err);
    log_->debug("trigger {}: event {}: dead letter to topic {} refused: {}", info.trigger, event.id,
                topic_, result.reason);
    co_return result;
  }
  ticket.release();  // librdkafka hands it to on_delivery_report
  while (!pending->finished) {
    co_await pending->done.async_wait(asio::as_tuple(asio::use_awaitable));
    // Woken without a report: the calling coroutine was cancelled (a drain that ran out).
    if (!pending->finished) co_return DeadLetterResult::temporary("cancelled");
  }
  DeadLetterResult result = kafka_error_result(pending->error);
  if (!result.ok()) {
    log_->debug("trigger {}: event {}: dead letter to topic {} failed: {}", info.trigger, event.id,
                topic_, result.reason);
  }
  co_return result;
}

}  // namespace triggerd::kafka
