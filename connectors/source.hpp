#pragma once
// A source takes events from somewhere (a queue, a schedule) and hands them to its trigger's
// EventSink. Adding a source type = one folder under connectors/ with its Source, plus one
// case in connectors/registry.cpp.
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <optional>

#include "connectors/event_sink.hpp"

namespace triggerd {

class Source {
 public:
  virtual ~Source() = default;

  // Takes events and hands them to `sink` until close() (then returns by close's deadline).
  // Sets its trigger's source_up as the connection comes and goes. Should never throw; the
  // app logs and counts it if it does.
  virtual boost::asio::awaitable<void> run(EventSink& sink) = 0;

  // Drain, first step: take no more events. Events already taken still finish and are
  // acknowledged as they finish, and a group member keeps its membership (Kafka pauses and
  // keeps polling and committing), so no other replica takes over what this one still
  // delivers.
  virtual void stop_taking() = 0;

  // Drain, last step, once the trigger is idle or what was left in flight was abandoned:
  // flush the acknowledgements still owed, leave the group, close the connections, all by
  // `deadline`; run() returns by then. A deadline already passed means at once, flushing
  // nothing more (unacknowledged events are delivered again: at least once).
  virtual void close(std::chrono::steady_clock::time_point deadline) = 0;

  // Events waiting at the source, not yet taken (docs/configuration.md); nullopt when the source
  // cannot tell right now (e.g. disconnected).
  virtual std::optional<std::int64_t> queue_depth() const = 0;

  // A reload changed the trigger's delivery.max_inflight (docs/configuration.md, "Changing the
  // config"): the bound on what the source holds taken and unacknowledged follows from now
  // on, without reconnecting. What was sized from the old value at start (librdkafka's fetch
  // limits, a Redis stream's read-ahead ring) stays as it was. On the event loop.
  virtual void set_max_inflight(int max_inflight) = 0;
};

}  // namespace triggerd
