#pragma once
// The bookkeeping every fault case shares: each event carries a unique id as its payload, and
// the ledger matches what was sent against what the function did (answered 2xx), what the
// dead letter took, and what the dead letter refused for good (the event was dropped). From
// that it counts, per case, what a user would count: sent, delivered, duplicated,
// dead-lettered, dropped and lost.
//
// "Delivered" is seen from the function's side: a request the function answered 2xx (or was
// about to, when its caller died) did the function's work, whether or not triggerd read the
// answer. So an event in flight when a replica is killed, and delivered again after, counts
// as one duplicate, which is what the at-least-once bound is about.
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "tests/function_stub/function_stub.hpp"

namespace triggerd::testing {

struct Tally {
  std::size_t sent = 0;
  std::size_t delivered = 0;      // distinct ids the function did
  std::size_t duplicated = 0;     // deliveries and dead-letter writes beyond one per id
  std::size_t dead_lettered = 0;  // distinct ids the dead letter took (and the function never did)
  std::size_t dropped = 0;        // distinct ids the dead letter refused and nothing took
  std::size_t lost = 0;           // sent, and none of the above
  std::size_t unknown = 0;        // seen, never sent: a corrupted or foreign payload
};

class Ledger {
 public:
  // `source` and `fault` name the row ("redis-stream", "kill -9 mid-flight").
  Ledger(std::string source, std::string fault);

  // `count` new ids ("PREFIX-0" ...), recorded as sent. Send them in this order.
  std::vector<std::string> issue(int count, const std::string& prefix = "ev");

  // Which recorded requests got a 2xx: true for all, or by their index in arrival order (the
  // stub takes its scripted steps in that order).
  using AnsweredOk = std::function<bool(std::size_t index)>;
  static bool always_ok(std::size_t) { return true; }

  // Replaces what the function was seen doing with `requests` (bodies are ids).
  void function_saw(const std::vector<RecordedRequest>& requests, const AnsweredOk& ok = always_ok);
  // Replaces what the dead letter took (it answered 2xx) and what it refused.
  void dead_letter_saw(const std::vector<RecordedRequest>& requests,
                       const AnsweredOk& ok = always_ok);

  Tally tally() const;
  // Up to `limit` lost ids, for a failure message.
  std::string lost_sample(std::size_t limit = 10) const;
  // The markdown row of docs/reliability.md:
  // | source | fault | sent | delivered | duplicated | dead-lettered | dropped | lost |
  std::string row() const;
  // Prints the row on stdout and, when TRIGGERD_FAULTS_REPORT names a file, appends it there
  // (so a run of the whole suite collects the table).
  void report() const;

 private:
  std::string source_;
  std::string fault_;
  std::vector<std::string> sent_;
  // Sightings by where they came from, each replaced on its own; counted in tally().
  std::vector<std::string> function_ok_;
  std::vector<std::string> dead_letter_ok_;
  std::vector<std::string> dead_letter_refused_;
};

// Fails the test (with the row, the lost ids and `context`, e.g. the replicas' logs) unless
// nothing was lost, nothing foreign was seen, and duplicates are within `max_duplicates`.
// Reports the row either way.
void expect_accounted(const Ledger& ledger, std::size_t max_duplicates,
                      const std::string& context = "");

}  // namespace triggerd::testing
