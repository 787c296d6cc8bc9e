#pragma once
// Where a source hands its events: one trigger's entry into the delivery engine. It holds
// at most `delivery.max_inflight` events; a full sink refuses more, so memory stays bounded
// whatever the backlog at the source or the speed of the function (docs/delivery.md).
#include <boost/asio/awaitable.hpp>

#include "core/event.hpp"

namespace triggerd {

class EventSink {
 public:
  virtual ~EventSink() = default;

  // Takes the event (moving from it) and returns true when there is room; returns false and
  // leaves `event` as it was when the trigger is at max_inflight or draining.
  virtual bool try_submit(Event& event) = 0;
  // Whether try_submit would take an event now.
  virtual bool has_room() const = 0;
  // Completes once has_room() is true (or the sink drains: then has_room() stays false).
  // For sources that pull: read only what there is room for.
  virtual boost::asio::awaitable<void> wait_for_room() = 0;
};

}  // namespace triggerd
