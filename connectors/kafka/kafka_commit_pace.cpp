#include "connectors/kafka/kafka_commit_pace.hpp"

namespace triggerd::kafka {

bool commit_due(const CommitState& state) {
  if (state.draining) return true;
  if (state.unconfirmed <= 0) return false;
  // A quarter of the bound waits for a commit, or half the room the events in flight leave
  // when that is more (few in flight, as with `ordering: partition`: fewer, larger commits):
  // what a crash would deliver again stays within the bound, and a batch is worth its cost.
  const std::int64_t room = state.max_inflight - state.in_flight;
  if (state.unconfirmed * 4 >= state.max_inflight && state.unconfirmed * 2 >= room) return true;
  // The bound holds the source back: only a confirmed commit lets the next event start. An
  // eighth of the bound, or what finished within kBoundPace, makes the batch.
  if (bound_reached(state)) {
    return state.unconfirmed * 8 >= state.max_inflight || state.since_last_commit >= kBoundPace;
  }
  // Little traffic: a few finished events are not kept waiting for long.
  return state.since_last_commit >= kCommitPace;
}

bool bound_reached(const CommitState& state) {
  return state.unconfirmed > 0 && state.in_flight + state.unconfirmed >= state.max_inflight;
}

}  // namespace triggerd::kafka
