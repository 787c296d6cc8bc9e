#pragma once
// Batched delivery of one trigger (docs/delivery.md, "Batches"): events gather in open batches,
// and a batch goes as one request when it holds batch.max_events, when the next event would take
// it past batch.max_bytes, or batch.max_wait after its first event came, whichever is first.
//
// Events of an order group (Event::order_group: a Kafka partition or key under `ordering`) share
// a batch of their own, and a group has one batch under way at a time: the next waits until
// every event of the one before has ended. Other events share one open batch, and any number of
// their batches may be under way (the function's max_concurrency bounds the requests).
//
// Each batch is delivered like one event, attempt after attempt with the trigger's backoff, but
// its outcome is per event: the function's answer says which events were delivered, which are
// to be retried (they go again together, as a smaller batch, after the backoff) and which to
// drop (dead-lettered at once). In an order group, every event from the first one to retry on
// is retried, so the function never takes an event before the one it failed (the events after
// it come again, even those it took). Attempts, metrics and dead letters stay per event.
//
// A batch's frame and buffers are allocated per batch, not per event.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "core/event.hpp"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace triggerd {

class Dispatcher;
struct CallResult;
struct TriggerTelemetry;

// The owner of a batched trigger's events: it acknowledges each as it ends.
class BatchOwner {
 public:
  // `event` ended with `outcome`; it was given to Batcher::add() at `taken`. The owner may move
  // from it, and may add events to the batcher from here.
  virtual void batch_event_done(Event& event, std::chrono::steady_clock::time_point taken,
                                Outcome outcome) = 0;

 protected:
  ~BatchOwner() = default;
};

class Batcher {
 public:
  // `dispatcher`, `telemetry` and `owner` must outlive the batcher.
  Batcher(boost::asio::any_io_executor executor, Dispatcher& dispatcher,
          TriggerTelemetry& telemetry, BatchOwner& owner);
  // Every event must have ended first (see abandon_all()).
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Takes `event` (moving from it) into the open batch of its group. `trigger` has a
  // delivery.batch and stays valid until the event has ended; a batch opened under it is
  // delivered with its settings. The event ends with BatchOwner::batch_event_done(), never
  // inside add().
  void add(Event& event, std::chrono::steady_clock::time_point taken,
           const config::Trigger& trigger);

  // A drain's first step: every open batch goes now (a group's after its batch under way), and
  // so does any batch opened from now on.
  void flush();
  // A drain's last step: batches under way end promptly (a request is cut, a backoff or a dead
  // letter write stops) and their events not yet ended end as abandoned, as do the events of
  // batches not yet sent. Ends nothing inside the call.
  void abandon_all();

  // Events taken and not yet ended.
  std::size_t events() const { return events_; }

 private:
  struct Item {
    Event event;
    std::chrono::steady_clock::time_point taken;
    bool ended = false;
  };
  struct Group;
  struct Batch {
    const config::Trigger* trigger = nullptr;
    Group* group = nullptr;
    std::vector<Item> items;
    std::size_t bytes = 0;  // structured_size_bound() of the items
    std::chrono::steady_clock::time_point deadline;  // the first item's max_wait runs out
    std::list<std::unique_ptr<Batch>>::iterator position;  // in sending_
    boost::asio::cancellation_signal cancel;
  };
  // The batches of one order group (0: the events with none).
  struct Group {
    std::uint64_t key = 0;
    std::unique_ptr<Batch> open;                // taking events
    std::deque<std::unique_ptr<Batch>> closed;  // full or due, waiting for the one under way
    bool sending = false;                       // a batch of the group is under way
  };

  Group& group(std::uint64_t key);
  // The open batch of `group` is complete: it goes now, or (an order group with a batch under
  // way) waits its turn.
  void close(Group& group);
  void send(std::unique_ptr<Batch> batch);
  void on_batch_done(Batch& batch);
  // Closes the open batches whose max_wait ran out and sets the timer for the next.
  void on_timer();
  void arm_timer(std::chrono::steady_clock::time_point deadline);

  boost::asio::awaitable<void> deliver(Batch& batch);
  // What becomes of `item` of `batch` that the function rejected or asked to drop, or whose
  // retries ran out: a dead letter, or a drop without one. `last` is the final answer.
  boost::asio::awaitable<Outcome> give_up(Batch& batch, Item& item, bool rejected, int attempts,
                                          const CallResult& last,
                                          std::chrono::system_clock::time_point first);
  // Ends `item` with `outcome` unless it has ended already.
  void end(Item& item, Outcome outcome);

  boost::asio::any_io_executor executor_;
  Dispatcher& dispatcher_;
  TriggerTelemetry& telemetry_;
  BatchOwner& owner_;
  std::shared_ptr<spdlog::logger> logger_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Group>> groups_;
  std::list<std::unique_ptr<Batch>> sending_;
  boost::asio::steady_timer timer_;
  std::chrono::steady_clock::time_point timer_at_ = std::chrono::steady_clock::time_point::max();
  std::size_t events_ = 0;
  bool flushing_ = false;
  bool abandoning_ = false;
};

}  // namespace triggerd
