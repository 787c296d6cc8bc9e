#include "broker/config_diff.hpp"

#include <algorithm>
#include <tuple>
#include <variant>

namespace triggerd {
namespace {

// The config structs do not declare operator== (several hold variants and optionals of
// structs), so equality is spelled out here field by field. A field added to a struct in
// config/config.hpp must be added here too, or a change to it goes unreported.
using config::BearerAuth;
using config::Connection;
using config::CronSource;
using config::Delivery;
using config::Function;
using config::HmacSha256Auth;
using config::HttpDeadLetter;
using config::HttpSource;
using config::KafkaConnection;
using config::KafkaDeadLetter;
using config::KafkaSource;
using config::RedisConnection;
using config::RedisListDeadLetter;
using config::RedisListSource;
using config::RedisStreamDeadLetter;
using config::RedisStreamSource;
using config::Scaling;
using config::ServerConfig;
using config::Trigger;

// Declared ahead: the variant template below must see every alternative's overload.
bool same(const HttpSource& a, const HttpSource& b);

bool same(const KafkaSource& a, const KafkaSource& b) {
  return std::tie(a.connection, a.topics, a.group, a.start) ==
         std::tie(b.connection, b.topics, b.group, b.start);
}
bool same(const RedisStreamSource& a, const RedisStreamSource& b) {
  return std::tie(a.connection, a.stream, a.group, a.consumer, a.start, a.claim_idle, a.count) ==
         std::tie(b.connection, b.stream, b.group, b.consumer, b.start, b.claim_idle, b.count);
}
bool same(const RedisListSource& a, const RedisListSource& b) {
  return std::tie(a.connection, a.list) == std::tie(b.connection, b.list);
}
bool same(const BearerAuth& a, const BearerAuth& b) { return a.token == b.token; }
bool same(const HmacSha256Auth& a, const HmacSha256Auth& b) {
  return std::tie(a.secret, a.header) == std::tie(b.secret, b.header);
}
bool same(const CronSource& a, const CronSource& b) {
  return std::tie(a.schedule, a.timezone, a.data_json, a.lock) ==
         std::tie(b.schedule, b.timezone, b.data_json, b.lock);
}
bool same(const RedisStreamDeadLetter& a, const RedisStreamDeadLetter& b) {
  return std::tie(a.connection, a.stream) == std::tie(b.connection, b.stream);
}
bool same(const RedisListDeadLetter& a, const RedisListDeadLetter& b) {
  return std::tie(a.connection, a.list) == std::tie(b.connection, b.list);
}
bool same(const KafkaDeadLetter& a, const KafkaDeadLetter& b) {
  return std::tie(a.connection, a.topic) == std::tie(b.connection, b.topic);
}
bool same(const HttpDeadLetter& a, const HttpDeadLetter& b) { return a.url == b.url; }
bool same(const KafkaConnection& a, const KafkaConnection& b) {
  return std::tie(a.brokers, a.options) == std::tie(b.brokers, b.options);
}
bool same(const RedisConnection& a, const RedisConnection& b) {
  return std::tie(a.address, a.username, a.password, a.db) ==
         std::tie(b.address, b.username, b.password, b.db);
}

template <typename... Ts>
bool same(const std::variant<Ts...>& a, const std::variant<Ts...>& b) {
  if (a.index() != b.index()) return false;
  return std::visit(
      [&b](const auto& left) { return same(left, std::get<std::decay_t<decltype(left)>>(b)); }, a);
}

template <typename T>
bool same(const std::optional<T>& a, const std::optional<T>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a.has_value() || same(*a, *b);
}

bool same(const HttpSource& a, const HttpSource& b) {
  return std::tie(a.path, a.methods) == std::tie(b.path, b.methods) && same(a.auth, b.auth);
}
bool same(const Delivery& a, const Delivery& b) {
  return std::tie(a.retries, a.backoff.policy, a.backoff.delay, a.backoff.max, a.max_inflight,
                  a.ordering) == std::tie(b.retries, b.backoff.policy, b.backoff.delay,
                                          b.backoff.max, b.max_inflight, b.ordering) &&
         same(a.dead_letter, b.dead_letter);
}
bool same(const Scaling& a, const Scaling& b) {
  return std::tie(a.target_per_replica, a.activation, a.min_replicas, a.max_replicas) ==
         std::tie(b.target_per_replica, b.activation, b.min_replicas, b.max_replicas);
}
bool same(const Trigger& a, const Trigger& b) {
  return std::tie(a.name, a.function) == std::tie(b.name, b.function) && same(a.source, b.source) &&
         same(a.delivery, b.delivery) && same(a.scaling, b.scaling);
}
bool same(const Connection& a, const Connection& b) {
  return a.name == b.name && same(a.spec, b.spec);
}
bool same(const Function& a, const Function& b) {
  return std::tie(a.name, a.url, a.timeout, a.max_concurrency, a.headers) ==
         std::tie(b.name, b.url, b.timeout, b.max_concurrency, b.headers);
}
bool same(const ServerConfig& a, const ServerConfig& b) {
  return std::tie(a.listen, a.admin_listen, a.max_body_size, a.shutdown_timeout) ==
         std::tie(b.listen, b.admin_listen, b.max_body_size, b.shutdown_timeout);
}

template <typename T>
bool same_lists(const std::vector<T>& a, const std::vector<T>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const T& x, const T& y) { return same(x, y); });
}

void append_names(std::string& out, const char* what, const std::vector<std::string>& names) {
  if (names.empty()) return;
  if (!out.empty()) out += "; ";
  out += what;
  out += ": ";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ", ";
    out += names[i];
  }
}

void append_flag(std::string& out, const char* what, bool changed) {
  if (!changed) return;
  if (!out.empty()) out += "; ";
  out += what;
}

}  // namespace

std::string ConfigChanges::describe_unapplied() const {
  std::string out;
  append_names(out, "triggers added", triggers_added);
  append_names(out, "triggers removed", triggers_removed);
  append_names(out, "triggers changed", triggers_changed);
  append_flag(out, "server", server);
  append_flag(out, "connections", connections);
  append_flag(out, "functions", functions);
  return out;
}

ConfigChanges diff_config(const config::Config& running, const config::Config& loaded) {
  ConfigChanges changes;
  for (const Trigger& trigger : loaded.triggers) {
    const Trigger* before = running.find_trigger(trigger.name);
    if (before == nullptr) {
      changes.triggers_added.push_back(trigger.name);
    } else if (!same(*before, trigger)) {
      changes.triggers_changed.push_back(trigger.name);
    }
  }
  for (const Trigger& trigger : running.triggers) {
    if (loaded.find_trigger(trigger.name) == nullptr) {
      changes.triggers_removed.push_back(trigger.name);
    }
  }
  changes.server = !same(running.server, loaded.server);
  changes.connections = !same_lists(running.connections, loaded.connections);
  changes.functions = !same_lists(running.functions, loaded.functions);
  changes.log = running.log.level != loaded.log.level || running.log.format != loaded.log.format;
  return changes;
}

}  // namespace triggerd
