#pragma once
// What deliveries share (SPEC sections 3 and 6): one FunctionClient per function (its pooled
// connections and concurrency limit), one dead-letter sink per trigger that has a dead letter,
// and the backoff's random source. Each event's own way through them is a Delivery
// (dispatcher/delivery.hpp). The dispatcher never knows which source an event came from, and it
// does not acknowledge: the caller finishes the event with the Outcome of its delivery.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>

#include "broker/event.hpp"
#include "config/config.hpp"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace triggerd {

class DeadLetterSink;
class Delivery;
class FunctionClient;
struct CallResult;
struct TriggerTelemetry;

class Dispatcher {
 public:
  // One FunctionClient per function of `config` and one dead-letter sink per trigger that has
  // a dead letter. Nothing of `config` is referenced afterwards.
  Dispatcher(boost::asio::any_io_executor executor, const config::Config& config);
  // Every delivery must have ended first (a drain ends them all, see Delivery::cancel()).
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Closes idle pooled connections (functions and dead letters). Call at shutdown, once the
  // deliveries have finished; a delivery after it still works, without keep-alive.
  void stop();

  // nullptr for a function that was not in the config.
  FunctionClient* function_client(std::string_view function) const;
  // nullptr for a trigger without a dead letter.
  DeadLetterSink* dead_letter_sink(std::string_view trigger) const;

 private:
  friend class Delivery;

  struct DeadLetterTarget {
    std::unique_ptr<DeadLetterSink> sink;
    bool failing = false;  // the last write failed; logged once per change, not per event
  };

  // Writes `event` to the dead letter of `trigger`, retried with the trigger's backoff until it
  // takes it -> dead_lettered; a terminal cancellation ends it with abandoned. Never throws.
  boost::asio::awaitable<Outcome> dead_letter(const Event& event, const config::Trigger& trigger,
                                              TriggerTelemetry& telemetry,
                                              DeadLetterTarget& target, int attempts,
                                              const CallResult& last,
                                              std::chrono::system_clock::time_point first);
  DeadLetterTarget* dead_letter_target(std::string_view trigger);

  boost::asio::any_io_executor executor_;
  std::map<std::string, std::unique_ptr<FunctionClient>, std::less<>> clients_;
  std::map<std::string, DeadLetterTarget, std::less<>> dead_letters_;
  std::mt19937_64 random_;  // backoff jitter; one event loop thread, so no lock
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace triggerd
