#pragma once
// The `http` dead letter: POSTs the event as it would go to the function (same body, content
// type and ce-* attributes) to the dead letter's url, with the failure as CloudEvents
// extension attributes: ce-trigger, ce-function, ce-attempts, ce-laststatus or ce-lasterror,
// ce-firstattempt. Accepted means a 2xx answer.
#include <chrono>
#include <memory>

#include "core/dead_letter_sink.hpp"
#include "dispatcher/http_client.hpp"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace triggerd {

// What an answer of the dead letter's endpoint (or its absence) means for the write: 2xx ok;
// 408, 429, 5xx, a timeout or a connection error temporary; any other status permanent (a
// collector that answers 400 or 404 to this request will answer it the same way again).
DeadLetterResult http_dead_letter_result(const CallResult& result);

class HttpDeadLetterSink final : public DeadLetterSink {
 public:
  // A dead letter is a collector, not a function: it should answer fast, and a few connections
  // carry what fails, even in a bad hour.
  static constexpr config::Duration kTimeout = std::chrono::seconds(10);
  static constexpr int kMaxConcurrency = 16;

  HttpDeadLetterSink(boost::asio::any_io_executor executor, const config::HttpDeadLetter& spec);

  boost::asio::awaitable<DeadLetterResult> write(const Event& event,
                                                 const DeadLetterInfo& info) override;
  void stop() override { client_.stop(); }

  const FunctionClient& client() const { return client_; }

 private:
  FunctionClient client_;
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace triggerd
