#pragma once
// The `kafka` dead letter (SPEC section 2): produces the event to `topic` in the CloudEvents
// Kafka binding's binary mode (the data as the value, the subject as the key, attributes as
// ce_* headers, content-type), with the failure as extension attributes: ce_trigger,
// ce_function, ce_attempts, ce_laststatus or ce_lasterror, ce_firstattempt. write() is ok
// only once the brokers acknowledged the message (its delivery report), so the source
// acknowledges only then. Its failures are librdkafka's errors, sorted by kafka_error_result().
//
// One producer per sink (acks=all); its delivery reports are served by a thread of its own and
// handed back to the event loop.
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <memory>
#include <string>
#include <thread>

#include "config/config.hpp"
#include "core/dead_letter_sink.hpp"

namespace spdlog {
class logger;
}

namespace triggerd::kafka {

// What a librdkafka error on a dead-letter message means: permanent for a topic or partition
// that does not exist, authorization and authentication failures, a message too large or
// invalid for the topic, and a producer that cannot work; temporary for everything else
// (time-outs, a full local queue, brokers down or changing leaders).
DeadLetterResult kafka_error_result(rd_kafka_resp_err_t error);

class KafkaDeadLetterSink final : public DeadLetterSink {
 public:
  KafkaDeadLetterSink(boost::asio::any_io_executor executor, const config::KafkaDeadLetter& spec,
                      const config::KafkaConnection& connection);
  ~KafkaDeadLetterSink() override;
  KafkaDeadLetterSink(const KafkaDeadLetterSink&) = delete;
  KafkaDeadLetterSink& operator=(const KafkaDeadLetterSink&) = delete;

  boost::asio::awaitable<DeadLetterResult> write(const Event& event,
                                                 const DeadLetterInfo& info) override;

 private:
  void poll_loop();

  boost::asio::any_io_executor executor_;
  std::string topic_;
  std::shared_ptr<spdlog::logger> log_;
  rd_kafka_s* producer_ = nullptr;
  std::thread poll_thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> detached_{false};  // delivery reports no longer reach the event loop
};

}  // namespace triggerd::kafka
