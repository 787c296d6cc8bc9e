#pragma once
// A source takes events from somewhere (a queue, a schedule) and hands them to its trigger's
// EventSink. Adding a source type = one folder under connectors/ with its Source, plus one
// case in connectors/registry.cpp.
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <optional>

#include "connectors/event_sink.hpp"

namespace triggerd {

class Source {
 public:
  virtual ~Source() = default;

  // Takes events and hands them to `sink` until stop() is called or the coroutine is
  // cancelled. Sets its trigger's source_up as the connection comes and goes. Never throws.
  virtual boost::asio::awaitable<void> run(EventSink& sink) = 0;

  // Drain: take no more events. run() returns soon after; finished events are still
  // acknowledged through their AckHandles.
  virtual void stop() = 0;

  // Events waiting at the source, not yet taken (SPEC section 2); nullopt when the source
  // cannot tell right now (e.g. disconnected).
  virtual std::optional<std::int64_t> queue_depth() const = 0;
};

}  // namespace triggerd
