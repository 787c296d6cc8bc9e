#include "connectors/registry.hpp"

#include <type_traits>

#include "core/logging.hpp"
#include "core/metrics.hpp"
#include "connectors/cron/cron_schedule.hpp"
#include "connectors/cron/cron_source.hpp"
#include "connectors/cron/time_zone.hpp"
#include "connectors/kafka/kafka_option_check.hpp"
#include "connectors/kafka/kafka_source.hpp"
#include "connectors/kafka/kafka_dead_letter.hpp"
#include "connectors/redis/redis_dead_letter.hpp"
#include "connectors/redis/redis_list_source.hpp"
#include "connectors/redis/redis_stream_source.hpp"
#include "dispatcher/http_dead_letter.hpp"

namespace triggerd {
namespace {

// Stands in for a source type this build cannot run yet: the trigger is configured, its
// series exist, but its source stays down (triggerd_source_up 0, /readyz 503), which is what
// an operator should see.
class UnavailableSource final : public Source {
 public:
  explicit UnavailableSource(const config::Trigger& trigger) : trigger_(trigger) {}
  boost::asio::awaitable<void> run(EventSink& /*sink*/) override {
    logging::get("triggerd")
        ->error("trigger {}: source type {} is not supported by this build yet; it stays down",
                trigger_.name, source_type_name(trigger_.source));
    co_return;
  }
  void stop_taking() override {}
  void close(std::chrono::steady_clock::time_point /*deadline*/) override {}
  std::optional<std::int64_t> queue_depth() const override { return std::nullopt; }
  void set_max_inflight(int) override {}

 private:
  const config::Trigger& trigger_;
};

class RegisteredCheck final : public config::ConnectorCheck {
 public:
  std::optional<std::string> check_kafka_option(std::string_view key,
                                                std::string_view value) const override {
    return kafka::check_option(key, value);
  }
  std::optional<std::string> check_cron_schedule(std::string_view schedule) const override {
    std::string error;
    if (cron::Schedule::parse(schedule, &error)) return std::nullopt;
    return error;
  }
  std::optional<std::string> check_time_zone(std::string_view zone) const override {
    std::string error;
    if (cron::TimeZone::load(zone, &error)) return std::nullopt;
    return error;
  }
};

}  // namespace

std::unique_ptr<DeadLetterSink> make_dead_letter_sink(boost::asio::any_io_executor executor,
                                                      const config::DeadLetter& dead_letter,
                                                      const config::Config& config) {
  return std::visit(
      [&](const auto& spec) -> std::unique_ptr<DeadLetterSink> {
        using Spec = std::decay_t<decltype(spec)>;
        if constexpr (std::is_same_v<Spec, config::HttpDeadLetter>) {
          return std::make_unique<HttpDeadLetterSink>(executor, spec);
        } else if constexpr (std::is_same_v<Spec, config::RedisStreamDeadLetter>) {
          return std::make_unique<redis::RedisStreamDeadLetterSink>(
              executor, spec,
              std::get<config::RedisConnection>(config.find_connection(spec.connection)->spec));
        } else if constexpr (std::is_same_v<Spec, config::RedisListDeadLetter>) {
          return std::make_unique<redis::RedisListDeadLetterSink>(
              executor, spec,
              std::get<config::RedisConnection>(config.find_connection(spec.connection)->spec));
        } else if constexpr (std::is_same_v<Spec, config::KafkaDeadLetter>) {
          return std::make_unique<kafka::KafkaDeadLetterSink>(
              executor, spec,
              std::get<config::KafkaConnection>(config.find_connection(spec.connection)->spec));
        } else {
          // A new dead-letter type in config::DeadLetter must be handled above.
          static_assert(sizeof(Spec) == 0, "unhandled dead-letter type");
        }
      },
      dead_letter);
}

std::unique_ptr<Source> make_source(boost::asio::any_io_executor executor,
                                    const config::Config& config, const config::Trigger& trigger,
                                    TriggerTelemetry& telemetry) {
  return std::visit(
      [&](const auto& source) -> std::unique_ptr<Source> {
        using T = std::decay_t<decltype(source)>;
        if constexpr (std::is_same_v<T, config::CronSource>) {
          const config::RedisConnection* lock = nullptr;
          if (!source.lock.empty()) {
            lock = &std::get<config::RedisConnection>(config.find_connection(source.lock)->spec);
          }
          return std::make_unique<CronSource>(executor, trigger, telemetry.state,
                                              *telemetry.metrics.cron_ticks_skipped, lock);
        } else if constexpr (std::is_same_v<T, config::HttpSource>) {
          return nullptr;
        } else if constexpr (std::is_same_v<T, config::RedisStreamSource>) {
          // The loader has checked that the connection exists and is of type redis.
          return std::make_unique<redis::RedisStreamSource>(
              executor, trigger, *config.find_connection(source.connection), telemetry.state);
        } else if constexpr (std::is_same_v<T, config::RedisListSource>) {
          return std::make_unique<redis::RedisListSource>(
              executor, trigger, *config.find_connection(source.connection), telemetry.state);
        } else if constexpr (std::is_same_v<T, config::KafkaSource>) {
          // The loader has checked that the connection exists and is of type kafka.
          return std::make_unique<kafka::KafkaSource>(
              executor, trigger, *config.find_connection(source.connection), telemetry.state);
        } else {
          return std::make_unique<UnavailableSource>(trigger);
        }
      },
      trigger.source);
}

DeadLetterSinks make_dead_letter_sinks(boost::asio::any_io_executor executor,
                                       const config::Config& config) {
  DeadLetterSinks sinks;
  for (const config::Trigger& trigger : config.triggers) {
    if (trigger.delivery.dead_letter) {
      sinks.emplace(trigger.name,
                    make_dead_letter_sink(executor, *trigger.delivery.dead_letter, config));
    }
  }
  return sinks;
}

const config::ConnectorCheck& connector_check() {
  static const RegisteredCheck check;
  return check;
}

}  // namespace triggerd
