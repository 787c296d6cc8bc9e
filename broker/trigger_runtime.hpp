#pragma once
// One trigger at run time: the bounded entry (EventSink) that its source feeds, and the
// owner of every event of the trigger from the moment it is taken until it is finished.
//
// Each taken event gets its own Delivery; there is no separate queue, because max_inflight
// already bounds how many events (and so how much memory) a trigger holds, and events waiting
// for a slot of their function wait in the function's client. A finished event's place is kept
// for the next one, so taking an event allocates nothing of the runtime's own.
//
// An event that does not pass the trigger's `filters` (dispatcher/event_filter.hpp) is taken
// and acknowledged at its source without being sent; it holds no place and no room.
//
// With delivery.batch, taken events go to a Batcher (dispatcher/batcher.hpp) instead, which
// gathers them into batches and reports each event's end here; max_inflight counts the events
// it holds, in open batches and in batches under way.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <vector>

#include "core/event.hpp"
#include "config/config.hpp"
#include "connectors/event_sink.hpp"
#include "dispatcher/batcher.hpp"
#include "dispatcher/delivery.hpp"

namespace triggerd {

class Dispatcher;
struct TriggerTelemetry;

class TriggerRuntime final : public EventSink, private BatchOwner {
 public:
  // `trigger`, `telemetry` and `dispatcher` must outlive the runtime.
  TriggerRuntime(boost::asio::any_io_executor executor, const config::Trigger& trigger,
                 TriggerTelemetry& telemetry, Dispatcher& dispatcher);
  ~TriggerRuntime() override;
  TriggerRuntime(const TriggerRuntime&) = delete;
  TriggerRuntime& operator=(const TriggerRuntime&) = delete;

  bool try_submit(Event& event) override;
  bool has_room() const override;
  boost::asio::awaitable<void> wait_for_room() override;

  const config::Trigger& trigger() const { return *trigger_; }
  // A reload changed what the source can take while it runs (the function, retries, backoff,
  // scaling, max_inflight, filters): events taken from now on are delivered with `trigger`; those in
  // flight go on with the settings they started with. `trigger` must outlive the runtime, and so must the
  // one it replaces while events started under it are in flight.
  // Its max_inflight bounds the events taken from then on.
  void rebind(const config::Trigger& trigger);
  std::size_t inflight() const {
    return inflight_.size() + (batcher_ ? batcher_->events() : 0);
  }

  // Drain, step 1: take no more events (try_submit refuses, wait_for_room returns); open
  // batches go now.
  void stop_taking();
  // Completes once every taken event is finished, filtered ones acknowledged too.
  boost::asio::awaitable<void> wait_until_idle();
  // Drain, last step: cancels every delivery still running; each ends as `abandoned`
  // and stays unacknowledged at its source.
  void abandon_all();

 private:
  struct InFlight;
  using InFlightList = std::list<InFlight>;
  struct InFlight final : Delivery {
    explicit InFlight(TriggerRuntime& runtime) : owner(runtime) {}
    void delivery_done(Outcome outcome) override { owner.finish(*this, outcome); }

    TriggerRuntime& owner;
    Event event;
    std::chrono::steady_clock::time_point taken;
    InFlightList::iterator position;  // in inflight_
  };

  void finish(InFlight& item, Outcome outcome);
  // An event that did not pass the trigger's filters: taken (counted in received and filtered,
  // never in flight) and acknowledged by a handler of its own, soon after.
  void take_filtered(Event& event);
  void acknowledge_filtered();  // the handler
  void finish_filtered();       // acknowledges every filtered event taken so far
  void batch_event_done(Event& event, std::chrono::steady_clock::time_point taken,
                        Outcome outcome) override;
  // An event taken at `taken` ended: the metrics, the gauge, its acknowledgement.
  void count_finished(AckHandle ack, std::chrono::steady_clock::time_point taken,
                      Outcome outcome);

  boost::asio::any_io_executor executor_;
  const config::Trigger* trigger_;
  TriggerTelemetry& telemetry_;
  Dispatcher& dispatcher_;
  std::size_t max_inflight_;
  bool taking_ = true;
  InFlightList inflight_;
  InFlightList spare_;  // places of finished events, moved (not copied) back into inflight_
  // Filtered events waiting for acknowledge_filtered(), and those it acknowledges now.
  std::vector<AckHandle> filtered_;
  std::vector<AckHandle> acking_;
  bool acknowledge_posted_ = false;
  std::unique_ptr<Batcher> batcher_;  // with delivery.batch: holds the events instead
  // Never expire; cancelling one wakes every coroutine waiting on it (a condition variable
  // for a single-threaded executor).
  boost::asio::steady_timer room_changed_;
  boost::asio::steady_timer idle_changed_;
};

}  // namespace triggerd
