#pragma once
// The `cron` source: one event per tick of the schedule (docs/configuration.md, docs/delivery.md).
//
// Each tick is computed from the schedule and the previous tick, never from accumulated
// sleeps, so it does not drift. The event's ce-time is the scheduled time and its id is
// TRIGGER-UNIX_SECONDS, the same on every replica. A tick that comes while the trigger is at
// max_inflight is skipped (a warn log and triggerd_cron_ticks_skipped_total) rather than
// queued: cron events say "it is time", and a pile of stale ticks helps nobody. After a
// pause (a suspended process, a clock jump) missed ticks are not replayed: the next one
// after "now" is.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/system_timer.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "config/config.hpp"
#include "connectors/cron/cron_schedule.hpp"
#include "connectors/cron/time_zone.hpp"
#include "connectors/source.hpp"

namespace prometheus {
class Counter;
}

namespace triggerd {

class TriggerState;
namespace redis {
class CronLock;
}

class CronSource final : public Source {
 public:
  // `trigger` (of type cron, already validated), `state` and `ticks_skipped` must outlive
  // the source. Throws std::runtime_error at start-up if the schedule or zone is invalid.
  // With `lock` (the redis connection of the trigger's `lock:`), a tick fires only on the
  // replica that takes its lock.
  CronSource(boost::asio::any_io_executor executor, const config::Trigger& trigger,
             TriggerState& state, prometheus::Counter& ticks_skipped,
             const config::RedisConnection* lock = nullptr);
  ~CronSource() override;

  boost::asio::awaitable<void> run(EventSink& sink) override;
  void stop_taking() override;
  void close(std::chrono::steady_clock::time_point deadline) override;
  std::optional<std::int64_t> queue_depth() const override { return 0; }
  // A cron trigger holds nothing at a source: the runtime alone bounds its ticks in flight.
  void set_max_inflight(int) override {}

  // The event of the tick scheduled at `at`.
  Event make_event(std::chrono::sys_seconds at) const;

 private:
  const std::string trigger_name_;
  const config::CronSource& config_;
  cron::Schedule schedule_;
  cron::TimeZone zone_;
  TriggerState& state_;
  prometheus::Counter& ticks_skipped_;
  boost::asio::system_timer timer_;
  std::unique_ptr<redis::CronLock> lock_;
  bool stopped_ = false;
};

}  // namespace triggerd
