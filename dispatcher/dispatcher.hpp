#pragma once
// Delivers events to functions (SPEC sections 3 and 6): attempts with backoff between them,
// the function's concurrency limit, the dead letter, and the per-trigger metrics of every
// attempt and outcome. It never knows which source an event came from, and it does not
// acknowledge: the caller finishes the event with the Outcome that deliver() returns.
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
class FunctionClient;
struct CallResult;
struct TriggerTelemetry;

class Dispatcher {
 public:
  // One FunctionClient per function of `config` and one dead-letter sink per trigger that has
  // a dead letter. Nothing of `config` is referenced afterwards.
  Dispatcher(boost::asio::any_io_executor executor, const config::Config& config);
  // Every deliver() must have completed first (a drain ends them all, see deliver()).
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Delivers `event` to the function of `trigger`: attempt 1 .. retries+1, with the trigger's
  // backoff (or the function's Retry-After) between attempts; a concurrency slot of the
  // function is held during an attempt only, never while waiting to retry. Then:
  //   2xx                          -> Outcome::delivered
  //   rejected or retries exhausted -> written to the trigger's dead letter (retried with
  //                                    backoff until it takes it) -> Outcome::dead_lettered,
  //                                 or, with no dead letter, Outcome::dropped (logged, counted)
  // Every attempt is counted in triggerd_delivery_attempts_total{result} and observed in
  // triggerd_delivery_duration_seconds of `telemetry`.
  //
  // Cancellation: co_spawn it with a cancellation slot bound (asio::bind_cancellation_slot).
  // A terminal cancellation ends it promptly wherever it is (waiting for a slot, mid-request,
  // waiting to retry, writing the dead letter) with Outcome::abandoned and nothing counted as
  // delivered; the caller leaves the event unacknowledged so the source delivers it again.
  //
  // Never throws. `event`, `trigger` and `telemetry` must stay valid until it completes.
  boost::asio::awaitable<Outcome> deliver(Event& event, const config::Trigger& trigger,
                                          TriggerTelemetry& telemetry);

  // Closes idle pooled connections (functions and dead letters). Call at shutdown, once the
  // deliveries have finished; a delivery after it still works, without keep-alive.
  void stop();

  // nullptr for a function that was not in the config.
  FunctionClient* function_client(std::string_view function) const;
  // nullptr for a trigger without a dead letter.
  DeadLetterSink* dead_letter_sink(std::string_view trigger) const;

 private:
  struct DeadLetterTarget {
    std::unique_ptr<DeadLetterSink> sink;
    bool failing = false;  // the last write failed; logged once per change, not per event
  };

  boost::asio::awaitable<Outcome> run(Event& event, const config::Trigger& trigger,
                                      TriggerTelemetry& telemetry);
  boost::asio::awaitable<Outcome> dead_letter(Event& event, const config::Trigger& trigger,
                                              TriggerTelemetry& telemetry, DeadLetterTarget& target,
                                              int attempts, const CallResult& last,
                                              std::chrono::system_clock::time_point first);

  boost::asio::any_io_executor executor_;
  std::map<std::string, std::unique_ptr<FunctionClient>, std::less<>> clients_;
  std::map<std::string, DeadLetterTarget, std::less<>> dead_letters_;
  std::mt19937_64 random_;  // backoff jitter; one event loop thread, so no lock
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace triggerd
