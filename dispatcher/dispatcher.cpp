#include "dispatcher/dispatcher.hpp"

#include <prometheus/counter.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <utility>

#include "core/logging.hpp"
#include "core/metrics.hpp"
#include "config/units.hpp"
#include "core/dead_letter_sink.hpp"
#include "dispatcher/http_client.hpp"
#include "dispatcher/retry_policy.hpp"

namespace triggerd {
namespace {

namespace asio = boost::asio;

bool is_cancelled(const asio::cancellation_state& state) {
  return state.cancelled() != asio::cancellation_type::none;
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

Dispatcher::Dispatcher(asio::any_io_executor executor, const config::Config& config,
                       DeadLetterSinks dead_letters)
    : executor_(std::move(executor)),
      random_(seeded_generator()),
      logger_(logging::get("dispatcher")) {
  update_functions(config);
  for (auto& [trigger, sink] : dead_letters) {
    dead_letters_.emplace(trigger, DeadLetterTarget{std::move(sink)});
  }
}

Dispatcher::~Dispatcher() = default;

FunctionClient* Dispatcher::function_client(std::string_view function) const {
  auto it = functions_.find(function);
  return it == functions_.end() ? nullptr : it->second.client.get();
}

Dispatcher::FunctionEntry* Dispatcher::function_entry(std::string_view function) {
  auto it = functions_.find(function);
  return it == functions_.end() ? nullptr : &it->second;
}

DeadLetterSink* Dispatcher::dead_letter_sink(std::string_view trigger) const {
  auto it = dead_letters_.find(trigger);
  return it == dead_letters_.end() ? nullptr : it->second.sink.get();
}

void Dispatcher::stop() {
  for (auto& [name, entry] : functions_) entry.client->stop();
  for (auto& [name, target] : dead_letters_) target.sink->stop();
}

void Dispatcher::update_functions(const config::Config& config) {
  for (auto& [name, entry] : functions_) {
    std::erase_if(entry.retired, [](const auto& client) { return client->idle(); });
    const bool configured =
        std::any_of(config.functions.begin(), config.functions.end(),
                    [&name = name](const config::Function& function) { return function.name == name; });
    if (!configured) entry.client->stop();
  }
  for (const config::Function& function : config.functions) {
    FunctionEntry& entry = functions_[function.name];
    if (entry.client && entry.settings == function) continue;
    if (entry.client) {
      entry.client->stop();  // its idle connections close now, the others as their calls end
      if (!entry.client->idle()) entry.retired.push_back(std::move(entry.client));
    }
    entry.settings = function;
    entry.client = std::make_unique<FunctionClient>(executor_, function);
  }
}

void Dispatcher::set_dead_letter(const std::string& trigger,
                                 std::unique_ptr<DeadLetterSink> sink) {
  if (auto it = dead_letters_.find(trigger); it != dead_letters_.end()) {
    it->second.sink->stop();
    dead_letters_.erase(it);
  }
  if (sink) dead_letters_.emplace(trigger, DeadLetterTarget{std::move(sink)});
}

void Dispatcher::function_activated(std::string_view function) {
  if (FunctionEntry* entry = function_entry(function)) entry->wake.activated();
}

void Dispatcher::function_answered(std::string_view function, FunctionWake& wake) {
  if (auto since = wake.waking_since()) {
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
        FunctionWake::Clock::now() - *since);
    logger_->info("function {} is awake: it answered after {} ms of being woken", function,
                  waited.count());
  }
  wake.answered();
}

bool Dispatcher::waits_for_wake(const config::Trigger& trigger,
                                const TriggerTelemetry& telemetry, FunctionWake& wake,
                                const CallResult& last) {
  const config::Scaling& scaling = trigger.scaling;
  if (!is_wake_failure(last) || scaling.min_replicas > 0 || !telemetry.active()) return false;
  switch (wake.should_wait(FunctionWake::Clock::now(), scaling.activation_timeout)) {
    case FunctionWake::Decision::kRetry:
      return false;
    case FunctionWake::Decision::kTimedOut:
      logger_->warn(
          "function {} did not answer within activation_timeout {} ms of being woken (last: "
          "{}); its events use up their retries again",
          trigger.function, scaling.activation_timeout.count(), last.describe());
      return false;
    case FunctionWake::Decision::kWaitFirst:
      logger_->info(
          "function {} is being woken (trigger {}: {}); its events wait for it, up to "
          "activation_timeout {} ms, without using up retries",
          trigger.function, trigger.name, last.describe(), scaling.activation_timeout.count());
      return true;
    case FunctionWake::Decision::kWait:
      return true;
  }
  return false;
}

Dispatcher::DeadLetterTarget* Dispatcher::dead_letter_target(std::string_view trigger) {
  auto it = dead_letters_.find(trigger);
  return it == dead_letters_.end() ? nullptr : &it->second;
}

asio::awaitable<Outcome> Dispatcher::dead_letter(const Event& event, const config::Trigger& trigger,
                                                 TriggerTelemetry& telemetry,
                                                 DeadLetterTarget& target, int attempts,
                                                 const CallResult& last,
                                                 std::chrono::system_clock::time_point first) {
  // Errors are values here: a cancellation must come back as `abandoned`, not as an
  // operation_aborted exception thrown at the next co_await.
  co_await asio::this_coro::throw_if_cancelled(false);
  const asio::cancellation_state cancel_state = co_await asio::this_coro::cancellation_state;
  const DeadLetterInfo info{
      .trigger = trigger.name,
      .function = trigger.function,
      .attempts = attempts,
      .last_status = last.is_status() ? last.status : 0,
      .last_error = last.is_status() ? std::string() : last.error_text(),
      .first_attempt = first,
  };
  using Clock = std::chrono::steady_clock;
  const config::Duration retry_for = trigger.delivery.dead_letter_retry_for;
  std::optional<Clock::time_point> give_up_at;
  for (int write = 1;; ++write) {
    if (is_cancelled(cancel_state)) break;
    const DeadLetterResult result = co_await target.sink->write(event, info);
    if (result.ok()) {
      target.failing_since.reset();
      if (std::exchange(target.failing, false)) {
        logger_->info("trigger {}: the dead letter takes events again", trigger.name);
      }
      telemetry.metrics.dead_lettered.Increment();
      logger_->debug("trigger {}: event {} dead-lettered after {} attempt(s), last {}",
                     trigger.name, event.id, attempts, last.describe());
      co_return Outcome::dead_lettered;
    }
    // A write cut short by the drain says nothing about the dead letter.
    if (is_cancelled(cancel_state)) break;
    const bool permanent = result.is_permanent();
    telemetry.metrics
        .dead_letter_failures(permanent ? DeadLetterFailure::kPermanent
                                        : DeadLetterFailure::kTemporary)
        .Increment();
    const Clock::time_point now = Clock::now();
    if (!permanent) {
      // A permanent failure is about this event (its size, say) or a setting: it is logged with
      // the event below, and says nothing about whether the target is up.
      if (!std::exchange(target.failing, true)) {
        logger_->warn(
            "trigger {}: the dead letter is failing ({}); failed events wait for it up to {}, "
            "then are dropped",
            trigger.name, result.reason, config::format_duration(retry_for));
      }
      // A failure long after the last one (no write in between, or none that failed) starts a
      // spell of its own: the dead letter may well have been fine meanwhile.
      if (!target.failing_since || now - target.last_failure > retry_for) {
        target.failing_since = now;
      }
      target.last_failure = now;
      // Once the dead letter has been failing for the whole budget, an event that fails now
      // gets no more than the write it just had: else the trigger would stay full of events
      // waiting for a target that is gone.
      const Clock::time_point limit = *target.failing_since + retry_for;
      give_up_at = give_up_at ? std::min(*give_up_at, limit) : limit;
    }
    if (permanent || now >= *give_up_at) {
      telemetry.metrics.dropped(DropReason::kDeadLetterFailed).Increment();
      logger_->error(
          "trigger {}: event {} dropped: the dead letter {}: {}; the function had {} "
          "attempt(s), last {}",
          trigger.name, event.id,
          permanent ? "refused it for good"
                    : "kept failing for " + config::format_duration(retry_for) + " (retry_for)",
          result.reason, attempts, last.describe());
      co_return Outcome::dropped;
    }
    const config::Duration delay = std::min(backoff_delay(trigger.delivery.backoff, write, random_),
                                            std::chrono::ceil<config::Duration>(*give_up_at - now));
    logger_->debug("trigger {}: event {}: dead-letter write {} failed ({}); next in {} ms",
                   trigger.name, event.id, write, result.reason, delay.count());
    if (!co_await wait_unless_cancelled(delay, cancel_state)) break;
  }
  logger_->debug("trigger {}: event {}: abandoned while writing the dead letter", trigger.name,
                 event.id);
  co_return Outcome::abandoned;
}

}  // namespace triggerd
