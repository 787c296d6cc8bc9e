#include "dispatcher/batcher.hpp"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <numeric>
#include <optional>
#include <utility>

#include "core/logging.hpp"
#include "core/metrics.hpp"
#include "dispatcher/batch_answer.hpp"
#include "dispatcher/batch_body.hpp"
#include "dispatcher/dispatcher.hpp"
#include "dispatcher/http_client.hpp"
#include "dispatcher/retry_policy.hpp"

namespace triggerd {

namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;

namespace {

// The most of a function's answer to a batch that is read for its statuses: ample for 10 000
// ids of a few hundred bytes each. A longer answer retries the whole batch.
constexpr std::size_t kAnswerBodyLimit = std::size_t{8} << 20;

bool is_cancelled(const asio::cancellation_state& state) {
  return state.cancelled() != asio::cancellation_type::none;
}

}  // namespace

Batcher::Batcher(asio::any_io_executor executor, Dispatcher& dispatcher,
                 TriggerTelemetry& telemetry, BatchOwner& owner)
    : executor_(executor),
      dispatcher_(dispatcher),
      telemetry_(telemetry),
      owner_(owner),
      logger_(logging::get("dispatcher")),
      timer_(executor) {}

Batcher::~Batcher() = default;

Batcher::Group& Batcher::group(std::uint64_t key) {
  std::unique_ptr<Group>& entry = groups_[key];
  if (!entry) {
    entry = std::make_unique<Group>();
    entry->key = key;
  }
  return *entry;
}

void Batcher::add(Event& event, SteadyClock::time_point taken, const config::Trigger& trigger) {
  const config::Delivery::Batch& limits = *trigger.delivery.batch;
  Group& into = group(event.order_group);
  const std::size_t size = structured_size_bound(event, trigger.name);
  if (into.open && into.open->bytes + size > limits.max_bytes) close(into);
  if (!into.open) {
    into.open = std::make_unique<Batch>();
    Batch& batch = *into.open;
    batch.trigger = &trigger;
    batch.group = &into;
    // The shared batch fills up from a backlog; an order group's (one per key, possibly
    // thousands) grows as it needs.
    if (into.key == 0) batch.items.reserve(static_cast<std::size_t>(limits.max_events));
    batch.deadline = SteadyClock::now() + limits.max_wait;
    arm_timer(batch.deadline);
  }
  Batch& batch = *into.open;
  batch.items.push_back(Item{std::move(event), taken});
  batch.bytes += size;
  ++events_;
  if (batch.items.size() >= static_cast<std::size_t>(limits.max_events) || flushing_) close(into);
}

void Batcher::close(Group& group) {
  std::unique_ptr<Batch> batch = std::move(group.open);
  if (group.key == 0) {
    send(std::move(batch));
  } else if (group.sending) {
    group.closed.push_back(std::move(batch));
  } else {
    group.sending = true;
    send(std::move(batch));
  }
}

void Batcher::send(std::unique_ptr<Batch> owned) {
  sending_.push_back(std::move(owned));
  Batch& batch = *sending_.back();
  batch.position = std::prev(sending_.end());
  // Posted, so that no event ends inside add() or flush().
  asio::post(executor_, [this, &batch] {
    asio::co_spawn(executor_, deliver(batch),
                   asio::bind_cancellation_slot(
                       batch.cancel.slot(), [this, &batch](const std::exception_ptr& error) {
                         if (error) {
                           // Nothing there throws by design; should a bad_alloc or a bug do so,
                           // what has not ended is left for redelivery rather than lost.
                           logger_->error("trigger {}: a batch failed unexpectedly; its events "
                                          "not yet finished are left for redelivery",
                                          batch.trigger->name);
                           telemetry_.metrics.internal_errors.count("dispatcher");
                         }
                         on_batch_done(batch);
                       }));
  });
}

void Batcher::on_batch_done(Batch& batch) {
  for (Item& item : batch.items) end(item, Outcome::abandoned);  // those not ended yet
  Group& group = *batch.group;
  sending_.erase(batch.position);
  if (group.key == 0) return;
  group.sending = false;
  if (!group.closed.empty() && !abandoning_) {
    std::unique_ptr<Batch> next = std::move(group.closed.front());
    group.closed.pop_front();
    group.sending = true;
    send(std::move(next));
  } else if (!group.open && group.closed.empty()) {
    groups_.erase(group.key);
  }
}

void Batcher::arm_timer(SteadyClock::time_point deadline) {
  if (deadline >= timer_at_) return;
  timer_at_ = deadline;
  timer_.expires_at(deadline);
  timer_.async_wait([this](const boost::system::error_code& error) {
    if (error != asio::error::operation_aborted) on_timer();
  });
}

void Batcher::on_timer() {
  timer_at_ = SteadyClock::time_point::max();
  const SteadyClock::time_point now = SteadyClock::now();
  std::optional<SteadyClock::time_point> next;
  for (auto& [key, group] : groups_) {
    if (!group->open) continue;
    if (group->open->deadline <= now) {
      close(*group);
    } else {
      next = std::min(next.value_or(group->open->deadline), group->open->deadline);
    }
  }
  if (next) arm_timer(*next);
}

void Batcher::flush() {
  flushing_ = true;
  for (auto& [key, group] : groups_) {
    if (group->open) close(*group);
  }
}

void Batcher::abandon_all() {
  abandoning_ = true;
  for (const std::unique_ptr<Batch>& batch : sending_) {
    batch->cancel.emit(asio::cancellation_type::terminal);
  }
  // Batches not sent yet: their events end in a handler of their own, not inside this call.
  auto unsent = std::make_shared<std::vector<std::unique_ptr<Batch>>>();
  for (auto& [key, group] : groups_) {
    if (group->open) unsent->push_back(std::move(group->open));
    for (std::unique_ptr<Batch>& batch : group->closed) unsent->push_back(std::move(batch));
    group->closed.clear();
  }
  if (unsent->empty()) return;
  asio::post(executor_, [this, unsent] {
    for (const std::unique_ptr<Batch>& batch : *unsent) {
      for (Item& item : batch->items) end(item, Outcome::abandoned);
    }
  });
}

void Batcher::end(Item& item, Outcome outcome) {
  if (item.ended) return;
  item.ended = true;
  --events_;
  owner_.batch_event_done(item.event, item.taken, outcome);
}

asio::awaitable<void> Batcher::deliver(Batch& batch) {
  // Errors are values here: a drain's cancellation ends the batch with its events abandoned,
  // not with an exception thrown at the next co_await.
  co_await asio::this_coro::throw_if_cancelled(false);
  const asio::cancellation_state cancel_state = co_await asio::this_coro::cancellation_state;
  const config::Trigger& trigger = *batch.trigger;
  const config::Delivery& delivery = trigger.delivery;
  TriggerMetrics& metrics = telemetry_.metrics;
  const bool ordered = batch.group->key != 0;
  const int max_attempts = std::max(delivery.retries, 0) + 1;

  // The positions in batch.items of the events still to deliver, in the order they were taken.
  std::vector<std::size_t> pending(batch.items.size());
  std::iota(pending.begin(), pending.end(), std::size_t{0});
  std::vector<std::string_view> ids;
  std::vector<ItemStatus> statuses;
  std::string body;
  std::optional<asio::steady_timer> backoff;
  const auto first_attempt = std::chrono::system_clock::now();
  int attempts = 0;
  int wake_waits = 0;  // failed attempts that waited for the function to wake: not retries
  CallResult last;
  // Ends every pending event with a dead letter or a drop.
  auto give_up_pending = [&](bool rejected) -> asio::awaitable<void> {
    for (std::size_t position : pending) {
      Item& item = batch.items[position];
      end(item, co_await give_up(batch, item, rejected, attempts, last, first_attempt));
    }
    pending.clear();
  };

  while (!pending.empty() && !abandoning_ && !is_cancelled(cancel_state)) {
    Dispatcher::FunctionEntry* function = dispatcher_.function_entry(trigger.function);
    if (function == nullptr) {
      // The config loader refuses such a trigger; reaching this is a bug, and the events are
      // kept.
      logger_->error("trigger {}: function {} is unknown; a batch of {} left for redelivery",
                     trigger.name, trigger.function, pending.size());
      break;
    }
    ++attempts;
    body.clear();
    body.reserve(batch.bytes + 2);  // an upper bound: the body is written without a regrowth
    body.push_back('[');
    for (std::size_t position : pending) {
      if (body.size() > 1) body.push_back(',');
      append_structured_event(batch.items[position].event, trigger.name, attempts, body);
    }
    body.push_back(']');
    last = co_await function->client->post_body(kBatchContentType, body, {}, kAnswerBodyLimit);
    if (last.kind == CallResult::Kind::cancelled) break;
    const auto events = static_cast<double>(pending.size());
    metrics.attempts(attempt_result(last)).Increment(events);
    metrics.delivery_duration.Observe(std::chrono::duration<double>(last.duration).count());
    if (last.is_status() && last.status != 503) {
      dispatcher_.function_answered(trigger.function, function->wake);
    }
    const Verdict verdict = classify(last);
    if (verdict == Verdict::reject) {
      co_await give_up_pending(true);
      break;
    }
    if (verdict == Verdict::delivered) {
      ids.clear();
      for (std::size_t position : pending) ids.push_back(batch.items[position].event.id);
      statuses.assign(pending.size(), ItemStatus::retry);
      const std::string problem = read_batch_answer(last.body, last.body_cut, ids, statuses);
      if (!problem.empty()) {
        logger_->warn("trigger {}: function {} answered a batch of {} with status {}, but {}; "
                      "the whole batch is retried",
                      trigger.name, trigger.function, pending.size(), last.status, problem);
      }
      if (ordered) {  // nothing goes past an event of the group still to deliver
        std::fill(std::find(statuses.begin(), statuses.end(), ItemStatus::retry), statuses.end(),
                  ItemStatus::retry);
      }
      std::size_t retried = 0;
      for (std::size_t i = 0; i < pending.size(); ++i) {
        Item& item = batch.items[pending[i]];
        switch (statuses[i]) {
          case ItemStatus::success:
            metrics.delivered.Increment();
            end(item, Outcome::delivered);
            break;
          case ItemStatus::drop:
            end(item, co_await give_up(batch, item, true, attempts, last, first_attempt));
            break;
          case ItemStatus::retry:
            pending[retried++] = pending[i];
            break;
        }
      }
      pending.resize(retried);
      if (pending.empty() || abandoning_ || is_cancelled(cancel_state)) break;
    }

    // While the function is being woken from zero, its refusals do not use up retries.
    std::optional<config::Duration> delay;
    if (dispatcher_.waits_for_wake(trigger, telemetry_, function->wake, last)) {
      if (wake_waits == 0) metrics.activation_waits.Increment(events);
      ++wake_waits;
      delay = std::min<config::Duration>(
          backoff_delay(delivery.backoff, wake_waits, dispatcher_.random_), kWakeBackoffCap);
    }
    if (!delay) {
      if (attempts - wake_waits >= max_attempts) {
        co_await give_up_pending(false);
        break;
      }
      delay = retry_after_delay(last, delivery.backoff, std::chrono::system_clock::now())
                  .value_or(backoff_delay(delivery.backoff, attempts, dispatcher_.random_));
    }
    logger_->debug("trigger {}: batch attempt {} failed for {} event(s) ({}); next in {} ms",
                   trigger.name, attempts, pending.size(), last.describe(), delay->count());
    if (!backoff) backoff.emplace(executor_);
    backoff->expires_after(*delay);
    auto [error] = co_await backoff->async_wait(asio::as_tuple(asio::use_awaitable));
    if (error) break;  // cancelled: the drain ran out of time
  }
  // What has not ended is abandoned (on_batch_done ends it): left for the source to deliver
  // again.
}

asio::awaitable<Outcome> Batcher::give_up(Batch& batch, Item& item, bool rejected, int attempts,
                                          const CallResult& last,
                                          std::chrono::system_clock::time_point first) {
  const config::Trigger& trigger = *batch.trigger;
  if (Dispatcher::DeadLetterTarget* target = dispatcher_.dead_letter_target(trigger.name)) {
    co_return co_await dispatcher_.dead_letter(item.event, trigger, telemetry_, *target, attempts,
                                               last, first);
  }
  telemetry_.metrics.dropped(rejected ? DropReason::kRejected : DropReason::kRetriesExhausted)
      .Increment();
  logger_->error("trigger {}: event {} dropped ({}, no dead letter): {} attempt(s), last {}",
                 trigger.name, item.event.id, rejected ? "rejected" : "retries exhausted",
                 attempts, last.describe());
  co_return Outcome::dropped;
}

}  // namespace triggerd
