#pragma once
// What deliveries share (SPEC sections 3 and 6): one FunctionClient per function (its pooled
// connections and concurrency limit), one dead-letter sink per trigger that has a dead letter,
// and the backoff's random source. Each event's own way through them is a Delivery
// (dispatcher/delivery.hpp). The dispatcher never knows which source an event came from, and it
// does not acknowledge: the caller finishes the event with the Outcome of its delivery.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "core/dead_letter_sink.hpp"
#include "core/event.hpp"
#include "dispatcher/function_wake.hpp"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace triggerd {

class Delivery;
class FunctionClient;
struct CallResult;
struct TriggerTelemetry;

// The dead-letter sinks of the triggers that have a dead letter, by trigger name. The broker
// builds them (connectors/registry.hpp), since the redis and kafka ones belong to their
// connectors; the dispatcher only writes through the interface.
using DeadLetterSinks = std::map<std::string, std::unique_ptr<DeadLetterSink>, std::less<>>;

class Dispatcher {
 public:
  // One FunctionClient per function of `config`; `dead_letters` are the triggers' dead-letter
  // sinks. Nothing of `config` is referenced afterwards.
  Dispatcher(boost::asio::any_io_executor executor, const config::Config& config,
             DeadLetterSinks dead_letters);
  // Every delivery must have ended first (a drain ends them all, see Delivery::cancel()).
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Closes idle pooled connections (functions and dead letters). Call at shutdown, once the
  // deliveries have finished; a delivery after it still works, without keep-alive.
  void stop();

  // nullptr for a function that was not in the config.
  FunctionClient* function_client(std::string_view function) const;
  // nullptr for a trigger without a dead letter.
  DeadLetterSink* dead_letter_sink(std::string_view trigger) const;

  // Every trigger of `function` was idle and one became active: a replica of it may have to
  // start before it answers (dispatcher/function_wake.hpp).
  void function_activated(std::string_view function);

  // A reload. Functions new to `config` get a client. A function whose settings changed gets a
  // new client for the attempts that start from now on; attempts under way finish on the old
  // one, which is destroyed once it is idle (seen at a later reload). A function no longer in
  // `config` keeps its client, with its idle connections closed, for the deliveries of
  // triggers still draining. Nothing of `config` is referenced afterwards.
  void update_functions(const config::Config& config);
  // A reload replaces the dead letter of `trigger` (nullptr: it has none now). Only while no
  // delivery of the trigger is under way: after its old version drained, before its new one
  // takes an event.
  void set_dead_letter(const std::string& trigger, std::unique_ptr<DeadLetterSink> sink);

 private:
  friend class Batcher;
  friend class Delivery;

  struct DeadLetterTarget {
    std::unique_ptr<DeadLetterSink> sink;
    // A write failed temporarily and none has succeeded since: logged when it starts and when
    // it ends, not per event.
    bool failing = false;
    // The current spell of temporary failures: failed writes with no success between them and
    // none more than dead_letter_retry_for apart. Events wait for the dead letter no longer
    // than dead_letter_retry_for past its start.
    std::optional<std::chrono::steady_clock::time_point> failing_since;
    std::chrono::steady_clock::time_point last_failure;
  };

  // Writes `event` to the dead letter of `trigger` -> dead_lettered. Temporary failures are
  // retried with the trigger's backoff for at most dead_letter_retry_for, counted from the
  // event's first failed write or, if earlier, from the start of the dead letter's failing
  // spell; a permanent failure, or that time running out, -> dropped (logged, counted). A
  // terminal cancellation ends it with abandoned. Never throws.
  boost::asio::awaitable<Outcome> dead_letter(const Event& event, const config::Trigger& trigger,
                                              TriggerTelemetry& telemetry,
                                              DeadLetterTarget& target, int attempts,
                                              const CallResult& last,
                                              std::chrono::system_clock::time_point first);
  DeadLetterTarget* dead_letter_target(std::string_view trigger);
  // What deliveries share per function, found once per event.
  // The entry's address is stable: a delivery keeps it for the whole event and takes its
  // client afresh for each attempt, so that an attempt after a reload uses the new settings.
  struct FunctionEntry {
    config::Function settings;
    std::unique_ptr<FunctionClient> client;
    FunctionWake wake;
    // Clients of earlier settings that attempts were still using at a reload.
    std::vector<std::unique_ptr<FunctionClient>> retired;
  };
  FunctionEntry* function_entry(std::string_view function);
  // The function answered something other than 503: it is up.
  void function_answered(std::string_view function, FunctionWake& wake);
  // Whether a delivery of `trigger` whose attempt came to `last` waits for its function to wake
  // instead of using up a retry (dispatcher/function_wake.hpp). Logs the start of a wake and
  // its running past activation_timeout.
  bool waits_for_wake(const config::Trigger& trigger, const TriggerTelemetry& telemetry,
                      FunctionWake& wake, const CallResult& last);

  boost::asio::any_io_executor executor_;
  std::map<std::string, FunctionEntry, std::less<>> functions_;
  std::map<std::string, DeadLetterTarget, std::less<>> dead_letters_;
  std::mt19937_64 random_;  // backoff jitter; one event loop thread, so no lock
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace triggerd
