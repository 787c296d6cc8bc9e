#pragma once
// Where an event goes when the function rejected it or every retry failed: the dead letter. One
// interface for every type: the dispatcher writes through it; the http sink lives in
// dispatcher/, the redis-stream, redis-list and kafka sinks in their connector folders, and
// connectors/registry.cpp builds the one a trigger names.
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "core/event.hpp"

namespace triggerd {

// What a dead-lettered event carries besides its own data and attributes.
struct DeadLetterInfo {
  std::string trigger;
  std::string function;
  int attempts = 0;
  int last_status = 0;     // the function's last HTTP status; 0 when the last attempt had none
  std::string last_error;  // when last_status is 0: "timeout", "connect_error: ..."
  std::chrono::system_clock::time_point first_attempt;
};

// What one dead-letter write came to. A failure says whether trying again can help:
//   temporary: the target is down, busy or slow (connection errors, timeouts, 5xx, 408, 429,
//              Redis LOADING/BUSY, Kafka retriable errors, a full producer queue): retried
//              within the dead letter's retry budget;
//   permanent: the target refuses this write for good (other 4xx, Redis WRONGTYPE/NOPERM,
//              Kafka unknown topic, authorization, message too large): not retried.
struct DeadLetterResult {
  enum class Kind { ok, temporary, permanent };

  Kind kind = Kind::ok;
  // When not ok: what failed, short, for the log ("status 400", "WRONGTYPE Operation against a
  // key holding the wrong kind of value"). Never a secret, never the event's data.
  std::string reason;

  static DeadLetterResult accepted() { return {}; }
  static DeadLetterResult temporary(std::string reason) {
    return {Kind::temporary, std::move(reason)};
  }
  static DeadLetterResult permanent(std::string reason) {
    return {Kind::permanent, std::move(reason)};
  }
  bool ok() const { return kind == Kind::ok; }
  bool is_permanent() const { return kind == Kind::permanent; }
};

class DeadLetterSink {
 public:
  virtual ~DeadLetterSink() = default;

  // Writes one event; ok once the dead letter has it (durably, as far as the target promises).
  // Never throws. A cancellation of the calling coroutine ends it early with a temporary
  // failure (the dispatcher tells a cancellation apart by its own cancellation state).
  // `event` and `info` stay valid until it completes.
  virtual boost::asio::awaitable<DeadLetterResult> write(const Event& event,
                                                         const DeadLetterInfo& info) = 0;

  // Releases idle resources (pooled connections) at shutdown. Writes may still follow.
  virtual void stop() {}
};

}  // namespace triggerd
