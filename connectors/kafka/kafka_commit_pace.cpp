#include "connectors/kafka/kafka_commit_pace.hpp"

namespace triggerd::kafka {

bool commit_due(const CommitState& state) {
  if (state.draining) return true;
  if (state.unconfirmed <= 0) return false;
  // A quarter of the bound waits for a commit: what a crash would deliver again stays well
  // within it, and a batch is worth its cost.
  if (state.unconfirmed * 4 >= state.max_inflight) return true;
  // The bound holds the source back (a slow function keeps the slots busy): only a confirmed
  // commit lets the next event start.
  if (state.in_flight + state.unconfirmed >= state.max_inflight) return true;
  // Little traffic: a few finished events are not kept waiting for long.
  return state.since_last_commit >= kCommitPace;
}

}  // namespace triggerd::kafka
