#include "broker/trigger_runtime.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>

#include "core/metrics.hpp"
#include "dispatcher/dispatcher.hpp"

namespace triggerd {

namespace asio = boost::asio;

TriggerRuntime::TriggerRuntime(asio::any_io_executor executor, const config::Trigger& trigger,
                               TriggerTelemetry& telemetry, Dispatcher& dispatcher)
    : executor_(executor),
      trigger_(&trigger),
      telemetry_(telemetry),
      dispatcher_(dispatcher),
      max_inflight_(static_cast<std::size_t>(trigger.delivery.max_inflight)),
      room_changed_(executor, asio::steady_timer::time_point::max()),
      idle_changed_(executor, asio::steady_timer::time_point::max()) {}

TriggerRuntime::~TriggerRuntime() = default;

bool TriggerRuntime::has_room() const { return taking_ && inflight_.size() < max_inflight_; }

bool TriggerRuntime::try_submit(Event& event) {
  if (!has_room()) return false;
  if (spare_.empty()) spare_.emplace_back(*this);
  inflight_.splice(inflight_.end(), spare_, spare_.begin());
  InFlight& item = inflight_.back();
  item.position = std::prev(inflight_.end());
  item.event = std::move(event);
  item.taken = std::chrono::steady_clock::now();
  telemetry_.metrics.received.Increment();
  telemetry_.state.add_inflight(1);
  item.start(dispatcher_, item.event, *trigger_, telemetry_);
  return true;
}

void TriggerRuntime::rebind(const config::Trigger& trigger) {
  trigger_ = &trigger;
  max_inflight_ = static_cast<std::size_t>(trigger.delivery.max_inflight);
  room_changed_.cancel();  // a larger bound: a source waiting for room takes more at once
}

asio::awaitable<void> TriggerRuntime::wait_for_room() {
  while (taking_ && !has_room()) {
    co_await room_changed_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

void TriggerRuntime::finish(InFlight& item, Outcome outcome) {
  if (outcome != Outcome::abandoned) {
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - item.taken;
    telemetry_.metrics.event_duration.Observe(took.count());
  }
  telemetry_.state.add_inflight(-1);
  AckHandle ack = std::move(item.event.ack);
  item.event = Event{};  // its memory goes now, not when the place is reused
  spare_.splice(spare_.end(), inflight_, item.position);
  // Acknowledged once its place is free: the source may start its next event from in here,
  // in the same handler (an ordered partition's next event goes without waiting for a loop
  // iteration), and may even reuse this place; `item` is not touched after this. Every outcome
  // is reported, an abandoned one too, so that the source knows not to commit past it.
  ack.finish(outcome);
  room_changed_.cancel();
  if (inflight_.empty()) idle_changed_.cancel();
}

void TriggerRuntime::stop_taking() {
  taking_ = false;
  room_changed_.cancel();
}

asio::awaitable<void> TriggerRuntime::wait_until_idle() {
  while (!inflight_.empty()) {
    co_await idle_changed_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

void TriggerRuntime::abandon_all() {
  // A delivery never ends inside cancel(): the list stays as it is during the loop.
  for (InFlight& item : inflight_) item.cancel();
}

}  // namespace triggerd
