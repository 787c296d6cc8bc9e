#pragma once
// One event's way to its function: attempt 1 .. retries+1, with the trigger's backoff (or the
// function's Retry-After) between attempts; a concurrency slot of the function is held during
// an attempt only, never while waiting to retry. Then:
//   2xx                           -> Outcome::delivered
//   rejected or retries exhausted -> written to the trigger's dead letter -> Outcome::
//                                    dead_lettered (temporary failures retried with backoff
//                                    within dead_letter.retry_for),
//                                 or Outcome::dropped (logged, counted) when the dead letter
//                                    refused it for good or kept failing past that budget,
//                                    or when there is no dead letter
// Every attempt is counted in triggerd_delivery_attempts_total{result} and observed in
// triggerd_delivery_duration_seconds of the trigger's telemetry.
//
// While the function is being woken from zero (dispatcher/function_wake.hpp), connection errors
// and 503s do not use up retries: the event waits, at most 1 s at a time, and goes the moment
// the function answers.
//
// A Delivery is driven by completion handlers, not a coroutine, and its owner keeps it (one per
// event in flight, reused for the next event): on the common path, a free slot and a pooled
// connection, delivering an event allocates nothing of the dispatcher's own.
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <chrono>
#include <optional>

#include "core/event.hpp"
#include "config/config.hpp"
#include "dispatcher/dispatcher.hpp"
#include "dispatcher/function_wake.hpp"
#include "dispatcher/http_client.hpp"

namespace triggerd {

struct TriggerTelemetry;

class Delivery : private FunctionCall, private WakeWaiter {
 public:
  // Starts delivering `event` to the function of `trigger`. It ends with delivery_done(), never
  // inside start() or cancel(). `event`, `trigger`, `telemetry` and `dispatcher` must stay valid
  // until then. The delivery must not be in progress.
  void start(Dispatcher& dispatcher, const Event& event, const config::Trigger& trigger,
             TriggerTelemetry& telemetry);

  // A drain's terminal cancellation: ends promptly wherever the delivery is (waiting for a slot,
  // mid-request, waiting to retry, writing the dead letter) with Outcome::abandoned and nothing
  // counted as delivered; the owner leaves the event unacknowledged so that the source delivers
  // it again. An attempt whose answer was already in is still judged (a 2xx is delivered).
  // Does nothing when the delivery is not in progress.
  void cancel();

 protected:
  Delivery() = default;
  ~Delivery() override = default;

  // The delivery ended. Runs on the executor's thread; the delivery may be started again, or
  // destroyed, from here.
  virtual void delivery_done(Outcome outcome) = 0;

 private:
  enum class Stage { idle, attempting, backing_off, dead_lettering, ending };

  void attempt();
  void on_call_done() override;
  // Whether `last` (a failure to retry) waits for the function to wake instead of using a
  // retry; if so, the wait has begun.
  bool wait_for_wake(const CallResult& last);
  void wait(std::chrono::milliseconds delay);
  void wake_now() override;
  void on_backoff_over(bool cancelled);
  void give_up(bool rejected);
  void abandon(int attempts);
  void finish(Outcome outcome);

  Dispatcher* dispatcher_ = nullptr;
  const config::Trigger* trigger_ = nullptr;
  TriggerTelemetry* telemetry_ = nullptr;
  Dispatcher::FunctionEntry* function_ = nullptr;
  FunctionClient* client_ = nullptr;  // of the current attempt
  FunctionWake* wake_ = nullptr;      // of the function
  Stage stage_ = Stage::idle;
  bool cancelled_ = false;
  int attempts_ = 0;
  int wake_waits_ = 0;  // failed attempts that waited for the function to wake: not retries
  bool waiting_for_wake_ = false;  // registered as a waiter of wake_
  bool woken_early_ = false;             // the backoff was cut short because it answered
  std::chrono::system_clock::time_point first_attempt_;
  std::array<char, 16> attempt_text_{};
  std::array<ExtraHeader, 2> headers_{};  // ce-trigger, ce-attempt of the current attempt
  std::optional<boost::asio::steady_timer> backoff_;  // made on the first retry
  boost::asio::cancellation_signal stop_dead_letter_;
};

}  // namespace triggerd
