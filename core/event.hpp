#pragma once
// An event on its way from a source to a function. It carries its own acknowledgement
// handle, so the dispatcher never needs to know which kind of source it came from: it
// finishes each event exactly once, and the source commits / XACKs / removes it then.
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/payload.hpp"

namespace triggerd {

// How an event ended. Only `abandoned` leaves it unacknowledged at the source (a drain that
// ran out of time): the source will deliver it again, to this replica or another. `filtered`:
// it did not pass the trigger's filters and was never sent; a source acknowledges it as it
// acknowledges a delivered one.
enum class Outcome { delivered, dead_lettered, dropped, abandoned, filtered };

const char* outcome_name(Outcome outcome);

// Implemented by sources that acknowledge (Kafka, Redis). Called on the io_context thread.
class Acknowledger {
 public:
  virtual void acknowledge(std::uint64_t token, Outcome outcome) = 0;

 protected:
  ~Acknowledger() = default;
};

// Which source message an event is, in the source's own terms (offset, entry, list item).
// Empty for sources that have nothing to acknowledge (webhook: answered 202 on receipt;
// cron: nothing to take back).
class AckHandle {
 public:
  AckHandle() = default;
  AckHandle(Acknowledger* owner, std::uint64_t token) : owner_(owner), token_(token) {}
  AckHandle(AckHandle&& other) noexcept
      : owner_(std::exchange(other.owner_, nullptr)), token_(other.token_) {}
  AckHandle& operator=(AckHandle&& other) noexcept {
    owner_ = std::exchange(other.owner_, nullptr);
    token_ = other.token_;
    return *this;
  }
  AckHandle(const AckHandle&) = delete;
  AckHandle& operator=(const AckHandle&) = delete;

  // At most once: a second call does nothing.
  void finish(Outcome outcome) {
    if (owner_ != nullptr) std::exchange(owner_, nullptr)->acknowledge(token_, outcome);
  }

 private:
  Acknowledger* owner_ = nullptr;
  std::uint64_t token_ = 0;
};

// CloudEvents attributes (docs/delivery.md) and the data, moved (never copied) along the path.
struct Event {
  std::string id;
  std::string source;
  std::string type;
  std::string subject;       // empty: no ce-subject header
  std::string content_type;  // empty: application/octet-stream
  Payload data;              // the body, byte for byte
  std::chrono::system_clock::time_point time;
  // Further CloudEvents attributes, e.g. an incoming event's own extensions or dataschema:
  // (name without "ce-", value). triggerd's ce-trigger and ce-attempt are added on delivery.
  std::vector<std::pair<std::string, std::string>> attributes;
  std::string traceparent;  // W3C trace context, passed on when the source had one
  std::string tracestate;
  // Events of the same non-zero group reach the function in the order they were taken: a Kafka
  // partition, or a key within it, under `ordering`. 0: no order to keep. Read by batched
  // delivery only; one event at a time, the source holds a group's next event back itself.
  std::uint64_t order_group = 0;
  AckHandle ack;
};

// A random version-4 UUID, for sources whose events have no id of their own.
std::string generate_event_id();

}  // namespace triggerd
