#include "broker/trigger_runtime.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>

#include "core/metrics.hpp"
#include "dispatcher/dispatcher.hpp"
#include "dispatcher/event_filter.hpp"

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
      idle_changed_(executor, asio::steady_timer::time_point::max()) {
  // A reload that switches batches on or off restarts the trigger (broker/config_diff.cpp), so
  // the mode is fixed for the runtime's life.
  if (trigger.delivery.batch) {
    batcher_ = std::make_unique<Batcher>(executor, dispatcher, telemetry,
                                         static_cast<BatchOwner&>(*this));
  }
}

TriggerRuntime::~TriggerRuntime() = default;

bool TriggerRuntime::has_room() const { return taking_ && inflight() < max_inflight_; }

bool TriggerRuntime::try_submit(Event& event) {
  if (!taking_) return false;
  // Before the room check: an event that is not sent takes no room. The filters are the ones of
  // the trigger bound now (a reload may have changed them).
  if (!passes(trigger_->filters, event)) {
    take_filtered(event);
    return true;
  }
  if (!has_room()) return false;
  if (batcher_) {
    telemetry_.metrics.received.Increment();
    telemetry_.state.add_inflight(1);
    batcher_->add(event, std::chrono::steady_clock::now(), *trigger_);
    return true;
  }
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

void TriggerRuntime::take_filtered(Event& event) {
  telemetry_.metrics.received.Increment();
  telemetry_.metrics.filtered.Increment();
  filtered_.push_back(std::move(event.ack));
  event = Event{};  // a payload lent by the source goes back now
  // Never acknowledged from in here: a source may call try_submit from inside its own
  // acknowledge() (Kafka starts an ordered partition's next event from there), and the next
  // event may be filtered too, and the next... One handler acknowledges all that gathered.
  if (!acknowledge_posted_) {
    acknowledge_posted_ = true;
    asio::post(executor_, [this] { acknowledge_filtered(); });
  }
}

void TriggerRuntime::acknowledge_filtered() {
  acknowledge_posted_ = false;
  finish_filtered();
  if (inflight() == 0 && !acknowledge_posted_) idle_changed_.cancel();
}

void TriggerRuntime::finish_filtered() {
  // Swapped out first: what the sources filter from inside these acknowledgements goes into the
  // emptied vector, for the next handler. Both keep their capacity.
  acking_.swap(filtered_);
  for (AckHandle& ack : acking_) ack.finish(Outcome::filtered);
  acking_.clear();
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
  AckHandle ack = std::move(item.event.ack);
  item.event = Event{};  // its memory goes now, not when the place is reused
  spare_.splice(spare_.end(), inflight_, item.position);
  // Acknowledged once its place is free: the source may start its next event from in here,
  // in the same handler (an ordered partition's next event goes without waiting for a loop
  // iteration), and may even reuse this place; `item` is not touched after this.
  count_finished(std::move(ack), item.taken, outcome);
}

void TriggerRuntime::batch_event_done(Event& event, std::chrono::steady_clock::time_point taken,
                                      Outcome outcome) {
  AckHandle ack = std::move(event.ack);
  event = Event{};  // its memory goes now, not when the batch ends
  count_finished(std::move(ack), taken, outcome);
}

void TriggerRuntime::count_finished(AckHandle ack, std::chrono::steady_clock::time_point taken,
                                    Outcome outcome) {
  if (outcome != Outcome::abandoned) {
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - taken;
    telemetry_.metrics.event_duration.Observe(took.count());
  }
  telemetry_.state.add_inflight(-1);
  // Every outcome is reported, an abandoned one too, so that the source knows not to commit
  // past it.
  ack.finish(outcome);
  room_changed_.cancel();
  if (inflight() == 0) idle_changed_.cancel();
}

void TriggerRuntime::stop_taking() {
  taking_ = false;
  // The sources hear of what was filtered before a drain closes them; nothing is filtered from
  // now on, so this cannot recurse.
  finish_filtered();
  if (batcher_) batcher_->flush();
  room_changed_.cancel();
}

asio::awaitable<void> TriggerRuntime::wait_until_idle() {
  // A posted acknowledge_filtered() refers to the runtime: it must run first.
  while (inflight() != 0 || acknowledge_posted_) {
    co_await idle_changed_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

void TriggerRuntime::abandon_all() {
  // A delivery never ends inside cancel(): the list stays as it is during the loop.
  for (InFlight& item : inflight_) item.cancel();
  if (batcher_) batcher_->abandon_all();
}

}  // namespace triggerd
