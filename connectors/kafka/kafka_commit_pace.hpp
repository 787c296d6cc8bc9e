#pragma once
// When the Kafka source sends its next commit. A commit costs about 0.1 ms of CPU on the
// consumer's core (the poll thread, librdkafka's main and coordinator threads, a round trip to
// the coordinator), as much as two events of a fast function. Sending one as soon as the last
// one's result is in meant one commit per 8 events in benchmark S2 and a fifth of the source's
// CPU, so under load finished events wait for a batch; the redelivery bound (in flight +
// unconfirmed within max_inflight) never waits for one, nor does a drain or a revoke.
#include <chrono>
#include <cstdint>

namespace triggerd::kafka {

// Finished events wait at most this long after the last commit was sent.
inline constexpr std::chrono::milliseconds kCommitPace{100};

struct CommitState {
  // Draining, or a revoke waits for its commit: each finished event is committed at once.
  bool draining = false;
  std::int64_t in_flight = 0;    // handed to the trigger, not finished
  std::int64_t unconfirmed = 0;  // finished, not in a confirmed commit
  std::int64_t max_inflight = 1;
  // Since the last commit was sent; zero where it is not known (it then plays no part).
  std::chrono::steady_clock::duration since_last_commit{};
};

// Whether the finished events are to be committed now rather than wait for more.
bool commit_due(const CommitState& state);

}  // namespace triggerd::kafka
