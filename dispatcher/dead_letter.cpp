#include "dispatcher/dead_letter.hpp"

#include <type_traits>
#include <variant>

#include "connectors/kafka/kafka_dead_letter.hpp"
#include "connectors/redis/redis_dead_letter.hpp"
#include "dispatcher/http_dead_letter.hpp"

namespace triggerd {
std::unique_ptr<DeadLetterSink> make_dead_letter_sink(boost::asio::any_io_executor executor,
                                                      const config::DeadLetter& dead_letter,
                                                      const config::Config& config) {
  return std::visit(
      [&](const auto& spec) -> std::unique_ptr<DeadLetterSink> {
        using Spec = std::decay_t<decltype(spec)>;
        if constexpr (std::is_same_v<Spec, config::HttpDeadLetter>) {
          return std::make_unique<HttpDeadLetterSink>(executor, spec);
        } else if constexpr (std::is_same_v<Spec, config::RedisStreamDeadLetter>) {
          // The loader has checked that the connection exists and is of type redis.
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

}  // namespace triggerd
