#pragma once
// When the Kafka source sends its next commit. A commit costs about 0.1 ms of CPU on the
// consumer's core (the group thread, librdkafka's main and coordinator threads, a round trip
// to the coordinator), as much as a few events of a fast function. Sending one as soon as the
// last one's result is in meant one commit per 8 events in benchmark S2 and a fifth of the
// source's CPU, so under load finished events wait for a batch. A drain or a revoke never
// waits. Nor does the redelivery bound (in flight + unconfirmed within max_inflight) wait
// long: when it holds the source back, a commit goes once an eighth of max_inflight has
// finished, or at most kBoundPace after the last one; committing at every outcome there made
// a fast function's source spend most of its time committing, a few events per commit.
#include <chrono>
#include <cstdint>

namespace triggerd::kafka {

// Finished events wait at most this long after the last commit was sent.
inline constexpr std::chrono::milliseconds kCommitPace{100};
// While the redelivery bound holds the source back, at most this long.
inline constexpr std::chrono::milliseconds kBoundPace{1};

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
// Whether the redelivery bound holds the source back with finished events waiting: then the
// next commit is due within kBoundPace.
bool bound_reached(const CommitState& state);

}  // namespace triggerd::kafka
