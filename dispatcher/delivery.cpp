#include "dispatcher/delivery.hpp"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <charconv>
#include <exception>

#include "core/metrics.hpp"
#include "core/dead_letter_sink.hpp"
#include "dispatcher/dispatcher.hpp"
#include "dispatcher/retry_policy.hpp"

namespace triggerd {

namespace asio = boost::asio;

void Delivery::start(Dispatcher& dispatcher, const Event& event, const config::Trigger& trigger,
                     TriggerTelemetry& telemetry) {
  dispatcher_ = &dispatcher;
  request_event = &event;
  extra_headers = headers_;  // rewritten in place for each attempt
  trigger_ = &trigger;
  telemetry_ = &telemetry;
  cancelled_ = false;
  attempts_ = 0;
  wake_waits_ = 0;
  Dispatcher::FunctionEntry* function = dispatcher.function_entry(trigger.function);
  if (function == nullptr) {
    // The config loader refuses such a trigger; reaching this is a bug, and the event is kept.
    dispatcher.logger_->error("trigger {}: event {}: function {} is unknown; left for redelivery",
                              trigger.name, event.id, trigger.function);
    stage_ = Stage::ending;
    asio::post(dispatcher.executor_, [this] { finish(Outcome::abandoned); });
    return;
  }
  function_ = function;
  wake_ = &function->wake;
  first_attempt_ = std::chrono::system_clock::now();
  attempt();
}

void Delivery::attempt() {
  ++attempts_;
  const char* attempt_end =
      std::to_chars(attempt_text_.data(), attempt_text_.data() + attempt_text_.size(), attempts_)
          .ptr;
  headers_ = {{
      {"ce-trigger", trigger_->name},
      {"ce-attempt", std::string_view(attempt_text_.data(), attempt_end)},
  }};
  stage_ = Stage::attempting;
  client_ = function_->client.get();  // after a reload, the function's new settings
  client_->start(*this);
}

void Delivery::on_call_done() {
  const CallResult& last = result();
  if (last.kind == CallResult::Kind::cancelled) {
    abandon(attempts_ - 1);  // cut short: not an attempt
    return;
  }
  TriggerMetrics& metrics = telemetry_->metrics;
  metrics.attempts(attempt_result(last)).Increment();
  metrics.delivery_duration.Observe(std::chrono::duration<double>(last.duration).count());
  if (last.kind == CallResult::Kind::status && last.status != 503) {
    dispatcher_->function_answered(trigger_->function, *wake_);
  }
  const Verdict verdict = classify(last);
  if (verdict == Verdict::delivered) {
    metrics.delivered.Increment();
    dispatcher_->logger_->debug("trigger {}: event {} delivered on attempt {}", trigger_->name,
                                request_event->id, attempts_);
    finish(Outcome::delivered);
    return;
  }
  if (cancelled_) {  // the drain came while the answer was on its way
    abandon(attempts_);
    return;
  }
  const config::Delivery& delivery = trigger_->delivery;
  const int max_attempts = std::max(delivery.retries, 0) + 1;
  if (verdict != Verdict::reject && wait_for_wake(last)) return;
  if (verdict == Verdict::reject || attempts_ - wake_waits_ >= max_attempts) {
    give_up(verdict == Verdict::reject);
    return;
  }

  config::Duration delay{};
  if (auto asked = retry_after_delay(last, delivery.backoff, std::chrono::system_clock::now())) {
    delay = *asked;
  } else {
    delay = backoff_delay(delivery.backoff, attempts_, dispatcher_->random_);
  }
  dispatcher_->logger_->debug("trigger {}: event {}: attempt {} of {} failed ({}); next in {} ms",
                              trigger_->name, request_event->id, attempts_, max_attempts,
                              last.describe(), delay.count());
  wait(delay);
}

bool Delivery::wait_for_wake(const CallResult& last) {
  if (!dispatcher_->waits_for_wake(*trigger_, *telemetry_, *wake_, last)) return false;
  if (wake_waits_ == 0) telemetry_->metrics.activation_waits.Increment();
  ++wake_waits_;
  const auto delay = std::min<config::Duration>(
      backoff_delay(trigger_->delivery.backoff, wake_waits_, dispatcher_->random_),
      kWakeBackoffCap);
  dispatcher_->logger_->debug("trigger {}: event {}: function {} being woken ({}); next in {} ms",
                              trigger_->name, request_event->id, trigger_->function,
                              last.describe(), delay.count());
  waiting_for_wake_ = true;
  wake_->add_waiter(*this);
  wait(delay);
  return true;
}

void Delivery::wait(std::chrono::milliseconds delay) {
  stage_ = Stage::backing_off;
  woken_early_ = false;
  if (!backoff_) backoff_.emplace(dispatcher_->executor_);
  backoff_->expires_after(delay);
  backoff_->async_wait([this](const boost::system::error_code& error) {
    on_backoff_over(error == asio::error::operation_aborted);
  });
}

void Delivery::wake_now() {
  // The function answered another event: this one goes at once rather than after its wait.
  waiting_for_wake_ = false;  // FunctionWake::answered() has let go of its waiters
  woken_early_ = true;
  backoff_->cancel();
}

void Delivery::on_backoff_over(bool cancelled) {
  if (waiting_for_wake_) {
    wake_->remove_waiter(*this);
    waiting_for_wake_ = false;
  }
  if (cancelled_ || (cancelled && !woken_early_)) {
    abandon(attempts_);
    return;
  }
  attempt();
}

void Delivery::give_up(bool rejected) {
  Dispatcher& dispatcher = *dispatcher_;
  const CallResult& last = result();
  if (Dispatcher::DeadLetterTarget* target = dispatcher.dead_letter_target(trigger_->name)) {
    stage_ = Stage::dead_lettering;
    asio::co_spawn(
        dispatcher.executor_,
        dispatcher.dead_letter(*request_event, *trigger_, *telemetry_, *target, attempts_, last,
                               first_attempt_),
        asio::bind_cancellation_slot(
            stop_dead_letter_.slot(), [this](const std::exception_ptr& error, Outcome outcome) {
              if (error) {
                // Nothing there throws by design; should a bad_alloc or a bug do so anyway,
                // the event is left for redelivery rather than lost.
                dispatcher_->logger_->error(
                    "trigger {}: event {}: dead letter failed unexpectedly; left for redelivery",
                    trigger_->name, request_event->id);
                outcome = Outcome::abandoned;
              }
              // Posted: a cancel() may end the coroutine inside its emit(), and a delivery
              // never ends inside cancel().
              asio::post(dispatcher_->executor_, [this, outcome] { finish(outcome); });
            }));
    return;
  }
  const DropReason reason = rejected ? DropReason::kRejected : DropReason::kRetriesExhausted;
  telemetry_->metrics.dropped(reason).Increment();
  dispatcher.logger_->error(
      "trigger {}: event {} dropped ({}, no dead letter): {} attempt(s), last {}", trigger_->name,
      request_event->id, rejected ? "rejected" : "retries exhausted", attempts_, last.describe());
  finish(Outcome::dropped);
}

void Delivery::cancel() {
  switch (stage_) {
    case Stage::idle:
    case Stage::ending:
      return;
    case Stage::attempting:
      cancelled_ = true;
      client_->cancel(*this);
      return;
    case Stage::backing_off:
      cancelled_ = true;
      backoff_->cancel();
      return;
    case Stage::dead_lettering:
      cancelled_ = true;
      stop_dead_letter_.emit(asio::cancellation_type::terminal);
      return;
  }
}

void Delivery::abandon(int attempts) {
  dispatcher_->logger_->debug("trigger {}: event {}: abandoned after {} attempt(s)",
                              trigger_->name, request_event->id, attempts);
  finish(Outcome::abandoned);
}

void Delivery::finish(Outcome outcome) {
  stage_ = Stage::idle;
  delivery_done(outcome);  // last: the owner may start this delivery again or destroy it
}

}  // namespace triggerd
