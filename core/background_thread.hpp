#pragma once
// Threads beside the event loop (librdkafka's, a Kafka source's group and depth threads) do
// work that can wait a little: fetches, commits, queue queries. Where they share a core with
// the loop, a wake-up of one of them would otherwise preempt the loop in the middle of an
// event, which with `ordering: partition` delays a partition's next event by the whole of that
// work. SCHED_BATCH keeps their share of the CPU (it is a normal-priority policy, allowed
// without privileges) but makes their wake-ups wait until the loop blocks or its time slice
// ends (docs/benchmarks.md, S2, has the measurement).
namespace triggerd {

// Puts the calling thread in SCHED_BATCH. Returns false (nothing changed) where the system
// refuses; that only costs latency, so callers do not fail on it.
bool make_background_thread();

}  // namespace triggerd
