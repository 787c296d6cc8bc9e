#include "dispatcher/dispatcher.hpp"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <exception>
#include <utility>

#include "broker/logging.hpp"
#include "broker/metrics.hpp"
#include "dispatcher/call_result.hpp"
#include "dispatcher/dead_letter.hpp"
#include "dispatcher/http_client.hpp"
#include "dispatcher/retry_policy.hpp"

namespace triggerd {
namespace {

namespace asio = boost::asio;

bool is_cancelled(const asio::cancellation_state& state) {
  return state.cancelled() != asio::cancellation_type::none;
}

// The `result` label of an attempt. A function should not answer 1xx or 3xx to a POST; such an
// answer is rejected like a 4xx (it is not retried), so it is counted with them.
AttemptResult attempt_result(const CallResult& result) {
  switch (result.kind) {
    case CallResult::Kind::status:
      if (result.status >= 200 && result.status <= 299) return AttemptResult::k2xx;
      if (result.status >= 500) return AttemptResult::k5xx;
      return AttemptResult::k4xx;
    case CallResult::Kind::timeout:
      return AttemptResult::kTimeout;
    case CallResult::Kind::connect_error:
    case CallResult::Kind::cancelled:
      break;
  }
  return AttemptResult::kConnectError;
}

std::string describe(const CallResult& result) {
  return result.is_status() ? "status " + std::to_string(result.status) : result.error_text();
}

// Waits `delay`; false when the coroutine was cancelled before or during the wait.
asio::awaitable<bool> wait_unless_cancelled(config::Duration delay,
                                            const asio::cancellation_state& cancel_state) {
  // A cancellation that came before the timer started would never reach it.
  if (is_cancelled(cancel_state)) co_return false;
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return !is_cancelled(cancel_state);
}

std::mt19937_64 seeded_generator() {
  std::random_device device;
  std::seed_seq seed{device(), device(), device(), device()};
  return std::mt19937_64(seed);
}

}  // namespace

Dispatcher::Dispatcher(asio::any_io_executor executor, const config::Config& config)
    : executor_(std::move(executor)),
      random_(seeded_generator()),
      logger_(logging::get("dispatcher")) {
  for (const config::Function& function : config.functions) {
    clients_.emplace(function.name, std::make_unique<FunctionClient>(executor_, function));
  }
  for (const config::Trigger& trigger : config.triggers) {
    if (!trigger.delivery.dead_letter) continue;
    const config::DeadLetter& spec = *trigger.delivery.dead_letter;
    std::unique_ptr<DeadLetterSink> sink = make_dead_letter_sink(executor_, spec, config);
    if (!sink) {
      // A degraded mode must be visible; the drop of each event is logged and counted too.
      logger_->warn(
          "trigger {}: dead letter type {} is not available yet; events that fail are dropped",
          trigger.name, config::dead_letter_type_name(spec));
      continue;
    }
    dead_letters_.emplace(trigger.name, DeadLetterTarget{std::move(sink)});
  }
}

Dispatcher::~Dispatcher() = default;

FunctionClient* Dispatcher::function_client(std::string_view function) const {
  auto it = clients_.find(function);
  return it == clients_.end() ? nullptr : it->second.get();
}

DeadLetterSink* Dispatcher::dead_letter_sink(std::string_view trigger) const {
  auto it = dead_letters_.find(trigger);
  return it == dead_letters_.end() ? nullptr : it->second.sink.get();
}

void Dispatcher::stop() {
  for (auto& [name, client] : clients_) client->stop();
  for (auto& [name, target] : dead_letters_) target.sink->stop();
}

asio::awaitable<Outcome> Dispatcher::deliver(Event& event, const config::Trigger& trigger,
                                             TriggerTelemetry& telemetry) {
  // Errors are values on this path: a cancellation must come back as `abandoned`, not as an
  // operation_aborted exception thrown at the next co_await. The flag belongs to the whole
  // coroutine stack, so the caller's setting is put back afterwards.
  const bool throw_if_cancelled = co_await asio::this_coro::throw_if_cancelled();
  co_await asio::this_coro::throw_if_cancelled(false);
  Outcome outcome = Outcome::abandoned;
  try {
    outcome = co_await run(event, trigger, telemetry);
  } catch (const std::exception& error) {
    // Nothing below throws by design; should a bad_alloc or a bug do so anyway, the event is
    // left for redelivery rather than lost.
    logger_->error("trigger {}: event {}: delivery failed unexpectedly ({}); left for redelivery",
                   trigger.name, event.id, error.what());
  }
  co_await asio::this_coro::throw_if_cancelled(throw_if_cancelled);
  co_return outcome;
}

asio::awaitable<Outcome> Dispatcher::run(Event& event, const config::Trigger& trigger,
                                         TriggerTelemetry& telemetry) {
  const asio::cancellation_state cancel_state = co_await asio::this_coro::cancellation_state;
  auto abandoned = [&](int attempts) {
    logger_->debug("trigger {}: event {}: abandoned after {} attempt(s)", trigger.name, event.id,
                   attempts);
    return Outcome::abandoned;
  };

  const auto client = clients_.find(trigger.function);
  if (client == clients_.end()) {
    // The config loader refuses such a trigger; reaching this is a bug, and the event is kept.
    logger_->error("trigger {}: event {}: function {} is unknown; left for redelivery",
                   trigger.name, event.id, trigger.function);
    co_return Outcome::abandoned;
  }

  const config::Delivery& delivery = trigger.delivery;
  const int max_attempts = std::max(delivery.retries, 0) + 1;
  const auto first_attempt = std::chrono::system_clock::now();
  std::array<char, 16> attempt_text{};
  CallResult last;
  int attempts = 0;
  DropReason reason = DropReason::kRetriesExhausted;
  while (attempts < max_attempts) {
    if (is_cancelled(cancel_state)) co_return abandoned(attempts);
    ++attempts;
    const char* attempt_end =
        std::to_chars(attempt_text.data(), attempt_text.data() + attempt_text.size(), attempts).ptr;
    const std::array<ExtraHeader, 2> headers{{
        {"ce-trigger", trigger.name},
        {"ce-attempt", std::string_view(attempt_text.data(), attempt_end)},
    }};
    last = co_await client->second->post(event, headers);
    if (last.kind == CallResult::Kind::cancelled) co_return abandoned(attempts - 1);

    telemetry.metrics.attempts(attempt_result(last)).Increment();
    telemetry.metrics.delivery_duration.Observe(
        std::chrono::duration<double>(last.duration).count());
    const Verdict verdict = classify(last);
    if (verdict == Verdict::delivered) {
      telemetry.metrics.delivered.Increment();
      logger_->debug("trigger {}: event {} delivered on attempt {}", trigger.name, event.id,
                     attempts);
      co_return Outcome::delivered;
    }
    if (verdict == Verdict::reject) {
      reason = DropReason::kRejected;
      break;
    }
    if (attempts == max_attempts) break;

    config::Duration delay{};
    if (auto asked = retry_after_delay(last, delivery.backoff, std::chrono::system_clock::now())) {
      delay = *asked;
    } else {
      delay = backoff_delay(delivery.backoff, attempts, random_);
    }
    logger_->debug("trigger {}: event {}: attempt {} of {} failed ({}); next in {} ms",
                   trigger.name, event.id, attempts, max_attempts, describe(last), delay.count());
    if (!co_await wait_unless_cancelled(delay, cancel_state)) co_return abandoned(attempts);
  }

  if (auto target = dead_letters_.find(trigger.name); target != dead_letters_.end()) {
    co_return co_await dead_letter(event, trigger, telemetry, target->second, attempts, last,
                                   first_attempt);
  }
  telemetry.metrics.dropped(reason).Increment();
  logger_->error("trigger {}: event {} dropped ({}, no dead letter): {} attempt(s), last {}",
                 trigger.name, event.id,
                 reason == DropReason::kRejected ? "rejected" : "retries exhausted", attempts,
                 describe(last));
  co_return Outcome::dropped;
}

asio::awaitable<Outcome> Dispatcher::dead_letter(Event& event, const config::Trigger& trigger,
                                                 TriggerTelemetry& telemetry,
                                                 DeadLetterTarget& target, int attempts,
                                                 const CallResult& last,
                                                 std::chrono::system_clock::time_point first) {
  const asio::cancellation_state cancel_state = co_await asio::this_coro::cancellation_state;
  const DeadLetterInfo info{
      .trigger = trigger.name,
      .function = trigger.function,
      .attempts = attempts,
      .last_status = last.is_status() ? last.status : 0,
      .last_error = last.is_status() ? std::string() : last.error_text(),
      .first_attempt = first,
  };
  // The event must not vanish: a dead letter that is down is retried, with the trigger's
  // backoff, until it takes the event or a drain abandons it (then the source keeps it).
  for (int write = 1;; ++write) {
    if (is_cancelled(cancel_state)) break;
    if (co_await target.sink->write(event, info)) {
      if (std::exchange(target.failing, false)) {
        logger_->info("trigger {}: the dead letter takes events again", trigger.name);
      }
      telemetry.metrics.dead_lettered.Increment();
      logger_->debug("trigger {}: event {} dead-lettered after {} attempt(s), last {}",
                     trigger.name, event.id, attempts, describe(last));
      co_return Outcome::dead_lettered;
    }
    if (is_cancelled(cancel_state)) break;
    if (!std::exchange(target.failing, true)) {
      logger_->warn(
          "trigger {}: event {}: the dead letter refused or failed the write; retrying until it "
          "takes it (events of this trigger that fail wait meanwhile)",
          trigger.name, event.id);
    }
    const config::Duration delay = backoff_delay(trigger.delivery.backoff, write, random_);
    logger_->debug("trigger {}: event {}: dead-letter write {} failed; next in {} ms", trigger.name,
                   event.id, write, delay.count());
    if (!co_await wait_unless_cancelled(delay, cancel_state)) break;
  }
  logger_->debug("trigger {}: event {}: abandoned while writing the dead letter", trigger.name,
                 event.id);
  co_return Outcome::abandoned;
}

}  // namespace triggerd
