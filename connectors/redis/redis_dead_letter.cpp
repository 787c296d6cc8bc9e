#include "connectors/redis/redis_dead_letter.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "core/logging.hpp"
#include "core/time_format.hpp"

namespace triggerd::redis {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr auto kTimeout = 5s;

std::vector<std::string> xadd_command(const std::string& stream, const Event& event,
                                      const DeadLetterInfo& info) {
  std::vector<std::string> command =
      args("XADD", stream, "*", "data", event.data, "trigger", info.trigger, "function",
           info.function, "attempts", std::to_string(info.attempts));
  auto add = [&command](std::string name, std::string value) {
    command.push_back(std::move(name));
    command.push_back(std::move(value));
  };
  if (info.last_status != 0) {
    add("last_status", std::to_string(info.last_status));
  } else {
    add("last_error", info.last_error);
  }
  add("first_attempt", format_rfc3339(info.first_attempt));
  add("id", event.id);
  add("source", event.source);
  add("type", event.type);
  add("time", format_rfc3339(event.time));
  if (!event.content_type.empty()) add("content_type", event.content_type);
  if (!event.subject.empty()) add("subject", event.subject);
  for (const auto& [name, value] : event.attributes) add(name, value);
  if (!event.traceparent.empty()) add("traceparent", event.traceparent);
  return command;
}

// One write command, whose success is a reply of type `expected`.
asio::awaitable<DeadLetterResult> send_write(SharedRedisConnection& connection,
                                             std::vector<std::string> command,
                                             Reply::Type expected) {
  if (!co_await connection.ensure()) {
    co_return DeadLetterResult::temporary("cannot connect: " + connection.client().last_error());
  }
  const Reply reply = co_await connection.client().command(std::move(command), kTimeout);
  if (reply.type == expected) co_return DeadLetterResult::accepted();
  if (reply.type == Reply::Type::kError) co_return redis_error_result(reply.str);
  // The connection failed or timed out (the next write connects again), or an answer this
  // command never gets, as from a proxy in a bad state.
  co_return DeadLetterResult::temporary(reply.failed() ? reply.str
                                                       : "unexpected reply: " + reply.describe());
}

}  // namespace

DeadLetterResult redis_error_result(std::string_view error) {
  static constexpr std::string_view kPassing[] = {"LOADING",    "BUSY",        "TRYAGAIN",
                                                  "MASTERDOWN", "CLUSTERDOWN", "READONLY",
                                                  "OOM",        "MISCONF",     "NOREPLICAS"};
  const std::string_view code = error.substr(0, error.find(' '));
  for (std::string_view passing : kPassing) {
    if (code == passing) return DeadLetterResult::temporary(std::string(error));
  }
  return DeadLetterResult::permanent(std::string(error));
}

SharedRedisConnection::SharedRedisConnection(asio::any_io_executor executor,
                                             const config::RedisConnection& spec)
    : client_(executor, spec), wait_(executor) {}

asio::awaitable<bool> SharedRedisConnection::ensure() {
  while (connecting_) {
    wait_.expires_after(10ms);
    co_await wait_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (client_.connected()) co_return true;
  connecting_ = true;
  const bool ok = co_await client_.connect(kTimeout);
  connecting_ = false;
  if (!ok) {
    logging::get("redis")->debug("dead letter: cannot connect to redis: {}", client_.last_error());
  }
  co_return ok;
}

RedisStreamDeadLetterSink::RedisStreamDeadLetterSink(asio::any_io_executor executor,
                                                     const config::RedisStreamDeadLetter& spec,
                                                     const config::RedisConnection& connection)
    : stream_(spec.stream), connection_(executor, connection) {}

asio::awaitable<DeadLetterResult> RedisStreamDeadLetterSink::write(const Event& event,
                                                                   const DeadLetterInfo& info) {
  DeadLetterResult result =
      co_await send_write(connection_, xadd_command(stream_, event, info), Reply::Type::kString);
  if (!result.ok()) {
    logging::get("redis")->debug("trigger {}: event {}: XADD to dead-letter stream {} failed: {}",
                                 info.trigger, event.id, stream_, result.reason);
  }
  co_return result;
}

RedisListDeadLetterSink::RedisListDeadLetterSink(asio::any_io_executor executor,
                                                 const config::RedisListDeadLetter& spec,
                                                 const config::RedisConnection& connection)
    : list_(spec.list), connection_(executor, connection) {}

std::string RedisListDeadLetterSink::envelope(const Event& event, const DeadLetterInfo& info) {
  boost::json::object object;
  object["id"] = event.id;
  object["source"] = event.source;
  object["type"] = event.type;
  object["time"] = format_rfc3339(event.time);
  if (!event.subject.empty()) object["subject"] = event.subject;
  object["content_type"] =
      event.content_type.empty() ? "application/octet-stream" : event.content_type;
  if (!event.attributes.empty()) {
    boost::json::object attributes;
    for (const auto& [name, value] : event.attributes) attributes[name] = value;
    object["attributes"] = std::move(attributes);
  }
  if (!event.traceparent.empty()) object["traceparent"] = event.traceparent;
  object["data"] = event.data.view();
  object["trigger"] = info.trigger;
  object["function"] = info.function;
  object["attempts"] = info.attempts;
  if (info.last_status != 0) {
    object["last_status"] = info.last_status;
  } else {
    object["last_error"] = info.last_error;
  }
  object["first_attempt"] = format_rfc3339(info.first_attempt);
  return boost::json::serialize(object);
}

asio::awaitable<DeadLetterResult> RedisListDeadLetterSink::write(const Event& event,
                                                                 const DeadLetterInfo& info) {
  DeadLetterResult result = co_await send_write(
      connection_, args("LPUSH", list_, envelope(event, info)), Reply::Type::kInteger);
  if (!result.ok()) {
    logging::get("redis")->debug("trigger {}: event {}: LPUSH to dead-letter list {} failed: {}",
                                 info.trigger, event.id, list_, result.reason);
  }
  co_return result;
}

}  // namespace triggerd::redis
