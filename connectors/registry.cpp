#include "connectors/registry.hpp"

#include <type_traits>

#include "broker/logging.hpp"
#include "broker/metrics.hpp"
#include "connectors/cron/cron_source.hpp"
#include "connectors/kafka/kafka_option_check.hpp"
#include "connectors/kafka/kafka_source.hpp"
#include "connectors/redis/redis_list_source.hpp"
#include "connectors/redis/redis_stream_source.hpp"

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

 private:
  const config::Trigger& trigger_;
};

}  // namespace

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

const config::OptionCheck& option_check() {
  static const kafka::KafkaOptionCheck check;
  return check;
}

}  // namespace triggerd
