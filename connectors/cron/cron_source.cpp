#include "connectors/cron/cron_source.hpp"

#include <prometheus/counter.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>

#include "core/logging.hpp"
#include "core/metrics.hpp"
#include "connectors/redis/redis_cron_lock.hpp"

namespace triggerd {

namespace asio = boost::asio;
using std::chrono::sys_seconds;

namespace {

cron::Schedule parse_schedule(const config::CronSource& cron) {
  std::string error;
  auto schedule = cron::Schedule::parse(cron.schedule, &error);
  if (!schedule) throw std::runtime_error("invalid cron schedule: " + error);
  return *schedule;
}

cron::TimeZone load_zone(const config::CronSource& cron) {
  std::string error;
  auto zone = cron::TimeZone::load(cron.timezone, &error);
  if (!zone) throw std::runtime_error(error);
  return *zone;
}

}  // namespace

CronSource::CronSource(asio::any_io_executor executor, const config::Trigger& trigger,
                       TriggerState& state, prometheus::Counter& ticks_skipped,
                       const config::RedisConnection* lock)
    : trigger_name_(trigger.name),
      config_(std::get<config::CronSource>(trigger.source)),
      schedule_(parse_schedule(config_)),
      zone_(load_zone(config_)),
      state_(state),
      ticks_skipped_(ticks_skipped),
      timer_(executor),
      lock_(lock != nullptr ? std::make_unique<redis::CronLock>(executor, *lock) : nullptr) {}

CronSource::~CronSource() = default;

Event CronSource::make_event(sys_seconds at) const {
  Event event;
  event.id = trigger_name_ + "-" + std::to_string(at.time_since_epoch().count());
  event.source = "cron://" + trigger_name_;
  event.type = "dev.triggerd.cron.tick";
  event.content_type = "application/json";
  event.data = config_.data_json;
  event.time = at;
  return event;
}

asio::awaitable<void> CronSource::run(EventSink& sink) {
  auto log = logging::get("cron");
  state_.set_source_up(true);
  auto now = [] {
    return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  };
  sys_seconds next = schedule_.next_after(now(), zone_);
  while (!stopped_ && next != sys_seconds::max()) {
    timer_.expires_at(next);
    auto [ec] = co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (stopped_ || ec == asio::error::operation_aborted) break;
    Event event = make_event(next);
    redis::CronLock::Result lock = redis::CronLock::Result::kAcquired;
    if (lock_) {
      std::string error;
      lock = co_await lock_->acquire(event.id, &error);
      if (lock == redis::CronLock::Result::kUnreachable ||
          lock == redis::CronLock::Result::kFailed) {
        // Skipped rather than fired: with the lock unknown, firing could fire it twice.
        ticks_skipped_.Increment();
        state_.count_source_error(lock == redis::CronLock::Result::kUnreachable
                                      ? SourceError::kConnect
                                      : SourceError::kCommand);
        log->warn("trigger {}: tick {} skipped: cannot take its lock: {}", trigger_name_, event.id,
                  error);
      }
    }
    if (stopped_) break;
    if (lock != redis::CronLock::Result::kAcquired) {
      // Another replica fired it (or the lock failed, logged above).
    } else if (!sink.try_submit(event)) {
      ticks_skipped_.Increment();
      log->warn("trigger {}: tick {} skipped: the trigger is at max_inflight", trigger_name_,
                event.id);
    }
    // Normally the tick right after this one; after a pause, the first one still ahead.
    next = schedule_.next_after(std::max(next, now() - std::chrono::seconds(1)), zone_);
  }
  state_.set_source_up(false);
}

// The drain's two steps are still one here: taking stops, and run() ends at once.
void CronSource::close(std::chrono::steady_clock::time_point /*deadline*/) {}

void CronSource::stop_taking() {
  stopped_ = true;
  timer_.cancel();
  if (lock_) lock_->close();  // an idle connection would keep the io_context running
}

}  // namespace triggerd
