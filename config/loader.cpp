#include "config/loader.hpp"

#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "config/checksum.hpp"
#include "config/units.hpp"
#include "config/yaml_reader.hpp"
#include "core/cloudevents.hpp"
#include "core/text.hpp"

namespace triggerd::config {
namespace {

std::string host_name() {
  std::array<char, 256> buffer{};
  if (gethostname(buffer.data(), buffer.size() - 1) != 0) return "triggerd";
  return buffer.data();
}

// Headers that triggerd sets itself on every delivery; a function's `headers` may not
// override them, or the CloudEvents contract of docs/delivery.md would break.
bool is_reserved_header(std::string_view name) {
  static constexpr std::string_view kReserved[] = {"content-type", "content-length", "host",
                                                   "connection", "transfer-encoding", "traceparent"};
  return starts_with_ignoring_case(name, "ce-") ||
         std::any_of(std::begin(kReserved), std::end(kReserved), [name](std::string_view reserved) {
           return equals_ignoring_case(name, reserved);
         });
}

// librdkafka properties that triggerd decides, because at-least-once delivery and the
// consumer-group contract depend on them.
bool is_owned_kafka_option(std::string_view key) {
  static constexpr std::string_view kOwned[] = {
      "bootstrap.servers", "metadata.broker.list", "group.id", "enable.auto.commit",
      "enable.auto.offset.store", "auto.offset.reset"};
  return std::find(std::begin(kOwned), std::end(kOwned), key) != std::end(kOwned);
}

bool is_kafka_topic_name(std::string_view name) {
  if (name.empty() || name.size() > 249 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return is_ascii_alnum(c) || c == '.' || c == '_' || c == '-';
  });
}

enum class ConnectionType { kafka, redis };

// The longest one event can stay taken at its source: every attempt runs to the function's
// timeout, and each retry waits its backoff ceiling (a Retry-After is capped by backoff.max
// too). Time waiting for a free function slot or for a dead-letter write comes on top.
Duration longest_event(const Delivery& delivery, Duration timeout) {
  const Backoff& backoff = delivery.backoff;
  Duration total = timeout * (delivery.retries + 1);
  Duration wait = backoff.delay;
  for (int retry = 1; retry <= delivery.retries; ++retry) {
    if (backoff.policy == BackoffPolicy::linear) wait = backoff.delay * retry;
    total += std::min(wait, backoff.max);
    if (backoff.policy == BackoffPolicy::exponential) wait = std::min(wait * 2, backoff.max);
  }
  return total;
}

// Walks the document; every section reads what it can and reports the rest.
class Schema {
 public:
  Schema(Reader& reader, const ConnectorCheck* check) : r_(reader), check_(check) {}

  Config read(const yaml::Node& root) {
    Config config;
    Value root_value{root, "", {1, 1}, {1, 1}};
    if (!root.IsMap()) {
      r_.error(root_value, root.IsNull() ? "the file is empty; expected a mapping with "
                                           "`functions` and `triggers`"
                                         : "must be a mapping with `functions` and `triggers`");
      return config;
    }
    MapReader top(r_, root_value);
    if (auto v = top.get("server")) read_server(*v, config.server);
    if (auto v = top.get("log")) read_log(*v, config.log);
    if (auto v = top.get("connections")) read_connections(*v, config.connections);
    if (auto v = top.require("functions")) read_functions(*v, config.functions);
    if (auto v = top.require("triggers")) read_triggers(*v, config);
    return config;
  }

 private:
  template <typename T, typename Read>
  void set(std::optional<Value> value, T& target, Read read) {
    if (!value) return;
    if (auto parsed = read(*value)) target = std::move(*parsed);
  }

  static void assign(std::optional<std::string> value, std::string& target) {
    if (value) target = std::move(*value);
  }

  // A token or a key: never echoed in an error, and never empty (an empty one would let
  // everybody in).
  void set_secret(std::optional<Value> value, Secret& target) {
    if (!value) return;
    value->secret = true;
    if (auto text = r_.non_empty_string(*value)) target = Secret(std::move(*text));
  }

  void read_server(const Value& value, ServerConfig& server) {
    MapReader map(r_, value);
    auto listen = [&](const Value& v) { return r_.host_port(v, /*allow_port_zero=*/true); };
    auto listen_value = map.get("listen");
    auto admin_value = map.get("admin_listen");
    set(listen_value, server.listen, listen);
    set(admin_value, server.admin_listen, listen);
    set(map.get("max_body_size"), server.max_body_size,
        [&](const Value& v) -> std::optional<std::uint64_t> {
          const auto size = r_.size(v);
          if (size && *size > kMaxBodySizeLimit) {
            r_.error(v, "must be at most 64MiB: webhook bodies are held in memory");
            return std::nullopt;
          }
          return size;
        });
    if (auto v = map.get("admin_auth")) {
      MapReader auth(r_, *v);
      if (auto bearer = auth.get("bearer")) {
        MapReader fields(r_, *bearer);
        BearerAuth result;
        set_secret(fields.require("token"), result.token);
        server.admin_auth = std::move(result);
      } else if (auth.is_map()) {
        r_.error(*v, "must set bearer");
      }
    }
    set(map.get("shutdown_timeout"), server.shutdown_timeout,
        [&](const Value& v) { return r_.duration(v); });
    set(map.get("watch_config"), server.watch_config,
        [&](const Value& v) { return r_.boolean(v); });
    auto scaler_value = map.get("scaler_listen");
    if (scaler_value) {
      if (auto address = listen(*scaler_value)) server.scaler_listen = *address;
    }
    // Two servers on one port: the second could not start. Port 0 picks a free port each.
    auto clash = [](const HostPort& a, const HostPort& b) {
      return a.port != 0 && a.port == b.port &&
             (a.host == b.host || a.host == "0.0.0.0" || b.host == "0.0.0.0");
    };
    if (clash(server.listen, server.admin_listen)) {
      const Value& at = admin_value ? *admin_value : (listen_value ? *listen_value : value);
      r_.error(at, "listen and admin_listen must use different ports");
    }
    if (server.scaler_listen) {
      for (const auto& [other, name] : {std::pair{&server.listen, "listen"},
                                        std::pair{&server.admin_listen, "admin_listen"}}) {
        if (clash(*server.scaler_listen, *other)) {
          r_.error(*scaler_value, std::string("scaler_listen and ") + name +
                                      " must use different ports");
        }
      }
    }
  }

  void read_log(const Value& value, LogConfig& log) {
    MapReader map(r_, value);
    if (auto v = map.get("level")) {
      if (auto i = r_.choice(*v, {"trace", "debug", "info", "warn", "error"}))
        log.level = static_cast<LogLevel>(*i);
    }
    if (auto v = map.get("format")) {
      if (auto i = r_.choice(*v, {"text", "json"})) log.format = static_cast<LogFormat>(*i);
    }
  }

  // ---- connections -------------------------------------------------------------------

  void read_connections(const Value& value, std::vector<Connection>& out) {
    MapReader map(r_, value);
    for (auto& [name, item] : map.entries()) {
      check_key_name(name, item);
      MapReader fields(r_, item);
      auto type_value = fields.require("type");
      std::optional<std::size_t> type;
      if (type_value) type = r_.choice(*type_value, {"kafka", "redis"});
      // Remember the name even when the connection has mistakes, so that triggers using it
      // are not also told that it does not exist.
      connection_types_[name] = type ? std::optional(static_cast<ConnectionType>(*type)) : std::nullopt;
      if (!type) {
        fields.accept_all();
        continue;
      }
      Connection connection{name, {}};
      if (*type == 0) {
        connection.spec = read_kafka_connection(fields);
      } else {
        connection.spec = read_redis_connection(fields);
      }
      out.push_back(std::move(connection));
    }
  }

  KafkaConnection read_kafka_connection(MapReader& fields) {
    KafkaConnection kafka;
    if (auto v = fields.require("brokers")) {
      if (auto list = r_.string_list(*v)) {
        for (const auto& broker : *list) {
          Value item = *v;
          item.node = yaml::Node::scalar(broker);
          if (r_.host_port(item)) kafka.brokers.push_back(broker);
        }
      }
    }
    if (auto v = fields.get("options")) {
      MapReader options(r_, *v);
      for (auto& [key, option] : options.entries()) {
        if (is_owned_kafka_option(key)) {
          r_.error(option.key_at, option.path,
                   quote(key) + " is set by triggerd (use brokers, group and start instead)");
          continue;
        }
        option.secret = true;  // sasl.password, ssl.key.password, ...: never echo
        auto text = r_.string(option);
        if (!text) continue;
        if (check_ != nullptr) {
          if (auto refused = check_->check_kafka_option(key, *text)) {
            r_.error(option, *refused);
            continue;
          }
        }
        kafka.options.emplace_back(key, Secret(std::move(*text)));
      }
    }
    return kafka;
  }

  RedisConnection read_redis_connection(MapReader& fields) {
    RedisConnection redis;
    set(fields.get("address"), redis.address, [&](const Value& v) { return r_.host_port(v); });
    set(fields.get("username"), redis.username, [&](const Value& v) { return r_.string(v); });
    if (auto v = fields.get("password")) {
      v->secret = true;
      if (auto text = r_.string(*v)) redis.password = Secret(std::move(*text));
    }
    if (auto v = fields.get("db")) {
      if (auto db = r_.integer(*v, 0, INT32_MAX)) redis.db = static_cast<int>(*db);
    }
    return redis;
  }

  // ---- functions ---------------------------------------------------------------------

  void read_functions(const Value& value, std::vector<Function>& out) {
    MapReader map(r_, value);
    for (auto& [name, item] : map.entries()) {
      check_key_name(name, item);
      function_names_.push_back(name);
      MapReader fields(r_, item);
      Function function{name, {}};
      set(fields.require("url"), function.url, [&](const Value& v) { return r_.http_url(v); });
      read_tls(fields, function.url, function.tls);
      set(fields.get("timeout"), function.timeout,
          [&](const Value& v) { return r_.duration(v, Duration(1)); });
      if (auto v = fields.get("max_concurrency")) {
        if (auto n = r_.integer(*v, 1, 100'000)) function.max_concurrency = static_cast<int>(*n);
      }
      if (auto v = fields.get("headers")) {
        MapReader headers(r_, *v);
        for (auto& [header, header_value] : headers.entries()) {
          if (!is_http_token(header)) {
            r_.error(header_value.key_at, header_value.path,
                     quote(header) + " is not a valid HTTP header name");
            continue;
          }
          if (is_reserved_header(header)) {
            r_.error(header_value.key_at, header_value.path,
                     quote(header) + " is set by triggerd and cannot be overridden");
            continue;
          }
          header_value.secret = true;
          if (auto text = r_.string(header_value)) {
            if (text->find_first_of("\r\n") != std::string::npos) {
              r_.error(header_value, "must not contain line breaks");
              continue;
            }
            function.headers.emplace_back(header, Secret(std::move(*text)));
          }
        }
      }
      out.push_back(std::move(function));
    }
  }

  // `tls:` beside an https `url`, checked by building the context that delivery would build:
  // a missing CA file or a key that does not fit its certificate is refused at load.
  void read_tls(MapReader& fields, const HttpUrl& url, TlsClientSettings& tls) {
    auto v = fields.get("tls");
    if (!v) return;
    if (!url.https) {
      if (!url.host.empty()) r_.error(*v, "applies to https:// URLs only");
      return;
    }
    MapReader settings(r_, *v);
    std::vector<std::pair<std::string_view, Value>> files;
    auto file = [&](std::string_view key, std::string& target) {
      if (auto value = settings.get(key)) {
        if (auto text = r_.non_empty_string(*value)) target = *text;
        files.emplace_back(key, *value);
      }
    };
    file("ca_file", tls.ca_file);
    file("client_cert_file", tls.client_cert_file);
    file("client_key_file", tls.client_key_file);
    if (auto name = settings.get("server_name")) {
      if (auto text = r_.non_empty_string(*name)) tls.server_name = *text;
    }
    if (auto skip = settings.get("insecure_skip_verify")) {
      if (auto flag = r_.boolean(*skip)) tls.insecure_skip_verify = *flag;
    }
    TlsSettingsError refused;
    if (make_tls_client_context(tls, refused)) return;
    for (const auto& [key, value] : files) {
      if (key == refused.field) {
        r_.error(value, refused.reason);
        return;
      }
    }
    r_.error(*v, refused.reason);
  }

  // ---- triggers ----------------------------------------------------------------------

  void read_triggers(const Value& value, Config& config) {
    MapReader map(r_, value);
    for (auto& [name, item] : map.entries()) {
      check_key_name(name, item);
      MapReader fields(r_, item);
      Trigger trigger{name, {}, {}, {}, {}};
      if (auto v = fields.require("function")) {
        if (auto function = r_.name(*v)) {
          trigger.function = *function;
          if (std::find(function_names_.begin(), function_names_.end(), *function) ==
              function_names_.end()) {
            r_.error(*v, "function " + quote(*function) + " is not defined under functions");
          }
        }
      }
      bool source_ok = false;
      if (auto v = fields.require("source")) source_ok = read_source(*v, name, trigger.source);
      std::optional<Value> delivery_value = fields.get("delivery");
      if (delivery_value) read_delivery(*delivery_value, trigger);
      if (auto v = fields.get("scaling")) read_scaling(*v, trigger.scaling);
      if (auto v = fields.get("filters")) read_filters(*v, trigger.filters);
      if (source_ok) check_claim_idle(trigger, config);
      if (source_ok && trigger.delivery.ordering != Ordering::none &&
          !std::holds_alternative<KafkaSource>(trigger.source)) {
        r_.error(ordering_at_, delivery_value->path + ".ordering",
                 "partition and key ordering apply to kafka sources only");
      }
      if (!trigger.delivery.dead_letter) {
        r_.warning(item.key_at, item.path,
                   "no delivery.dead_letter: events that fail for good are dropped (counted in "
                   "triggerd_events_dropped_total)");
      }
      config.triggers.push_back(std::move(trigger));
    }
  }

  bool read_source(const Value& value, const std::string& trigger, SourceSpec& source) {
    MapReader fields(r_, value);
    auto type_value = fields.require("type");
    std::optional<std::size_t> type;
    if (type_value) type = r_.choice(*type_value, {"kafka", "redis-stream", "redis-list", "http", "cron"});
    if (!type) {
      fields.accept_all();
      return false;
    }
    switch (*type) {
      case 0: source = read_kafka_source(fields, trigger); break;
      case 1: source = read_redis_stream_source(fields); break;
      case 2: source = read_redis_list_source(fields); break;
      case 3: source = read_http_source(fields, trigger); break;
      default: source = read_cron_source(fields); break;
    }
    return true;
  }

  // A connection reference: defined, and of the type the user of it needs.
  std::optional<std::string> connection_ref(MapReader& fields, ConnectionType needed,
                                            std::string_view user, std::string_view key = "connection") {
    auto v = fields.require(key);
    if (!v) return std::nullopt;
    auto name = r_.name(*v);
    if (!name) return std::nullopt;
    auto it = connection_types_.find(*name);
    const char* needed_name = needed == ConnectionType::kafka ? "kafka" : "redis";
    if (it == connection_types_.end()) {
      r_.error(*v, "connection " + quote(*name) + " is not defined under connections");
    } else if (it->second && *it->second != needed) {
      r_.error(*v, "connection " + quote(*name) + " is of type " +
                       (*it->second == ConnectionType::kafka ? "kafka" : "redis") + "; " +
                       std::string(user) + " needs a " + needed_name + " connection");
    }
    return name;
  }

  KafkaSource read_kafka_source(MapReader& fields, const std::string& trigger) {
    KafkaSource kafka;
    assign(connection_ref(fields, ConnectionType::kafka, "a kafka source"), kafka.connection);
    auto topic = fields.get("topic");
    auto topics = fields.get("topics");
    if (topic && topics) {
      r_.error(*topics, "set either topic or topics, not both");
    } else if (!topic && !topics) {
      r_.error(fields.self().key_at, fields.self().path, "missing required key \"topic\" (or \"topics\")");
    } else {
      const Value& v = topic ? *topic : *topics;
      auto list = topic ? wrap(r_.non_empty_string(v)) : r_.string_list(v);
      for (const auto& name : list.value_or(std::vector<std::string>{})) {
        if (is_kafka_topic_name(name)) {
          kafka.topics.push_back(name);
        } else {
          r_.error(v, "topic " + quote(name) +
                          " is not a valid Kafka topic name (letters, digits, '.', '_', '-', at "
                          "most 249)");
        }
      }
    }
    kafka.group = "triggerd-" + trigger;
    set(fields.get("group"), kafka.group, [&](const Value& v) { return r_.non_empty_string(v); });
    if (auto v = fields.get("start")) {
      if (auto i = r_.choice(*v, {"earliest", "latest"})) kafka.start = static_cast<KafkaStart>(*i);
    }
    return kafka;
  }

  static std::optional<std::vector<std::string>> wrap(std::optional<std::string> text) {
    if (!text) return std::nullopt;
    return std::vector<std::string>{std::move(*text)};
  }

  RedisStreamSource read_redis_stream_source(MapReader& fields) {
    RedisStreamSource stream;
    assign(connection_ref(fields, ConnectionType::redis, "a redis-stream source"), stream.connection);
    set(fields.require("stream"), stream.stream, [&](const Value& v) { return r_.non_empty_string(v); });
    set(fields.get("group"), stream.group, [&](const Value& v) { return r_.non_empty_string(v); });
    stream.consumer = host_name();
    set(fields.get("consumer"), stream.consumer, [&](const Value& v) { return r_.non_empty_string(v); });
    if (auto v = fields.get("start")) {
      if (auto i = r_.choice(*v, {"$", "0"})) stream.start = *i == 0 ? "$" : "0";
    }
    claim_idle_value_ = fields.get("claim_idle");
    set(claim_idle_value_, stream.claim_idle,
        [&](const Value& v) { return r_.duration(v, Duration(1000)); });
    if (auto v = fields.get("count")) {
      if (auto n = r_.integer(*v, 1, 10'000)) stream.count = static_cast<int>(*n);
    }
    return stream;
  }

  RedisListSource read_redis_list_source(MapReader& fields) {
    RedisListSource list;
    assign(connection_ref(fields, ConnectionType::redis, "a redis-list source"), list.connection);
    set(fields.require("list"), list.list, [&](const Value& v) { return r_.non_empty_string(v); });
    list.consumer = host_name();
    set(fields.get("consumer"), list.consumer, [&](const Value& v) { return r_.non_empty_string(v); });
    return list;
  }

  // A redis-stream consumer keeps the entries it delivers by refreshing their idle time, which
  // needs Redis: cut off from it for claim_idle, it loses them to another replica, which
  // delivers them again. A claim_idle below the longest time one event can take makes that a
  // matter of a short outage. Only a claim_idle set in the file is judged: the defaults would
  // warn on every stream trigger, and a user who never chose claim_idle has nothing to change.
  void check_claim_idle(const Trigger& trigger, const Config& config) {
    const auto* stream = std::get_if<RedisStreamSource>(&trigger.source);
    const Function* function = config.find_function(trigger.function);
    if (stream == nullptr || function == nullptr || !claim_idle_value_) return;
    const Duration longest = longest_event(trigger.delivery, function->timeout);
    if (stream->claim_idle >= longest) return;
    const std::string message =
        "claim_idle (" + format_duration(stream->claim_idle) +
        ") is shorter than the longest time one event can take (" + format_duration(longest) +
        ": " + std::to_string(trigger.delivery.retries + 1) + " attempts of up to " +
        format_duration(function->timeout) +
        " plus the backoff between them): should this replica lose Redis for claim_idle while "
        "it delivers, another replica claims its entries and delivers them again";
    r_.warning(claim_idle_value_->at, claim_idle_value_->path, message);
  }

  HttpSource read_http_source(MapReader& fields, const std::string& trigger) {
    HttpSource http;
    if (auto v = fields.require("path")) {
      if (auto path = r_.string(*v)) {
        if (!path->starts_with('/') || path->find_first_of(" \t\r\n?#") != std::string::npos) {
          r_.error(*v, "must be a URL path starting with '/', without query or spaces, e.g. /hooks/orders");
        } else if (auto [it, inserted] = http_paths_.emplace(*path, trigger); !inserted) {
          r_.error(*v, "path " + quote(*path) + " is already used by trigger " + quote(it->second));
        } else {
          http.path = *path;
        }
      }
    }
    if (auto v = fields.get("methods")) {
      if (auto methods = r_.string_list(*v)) {
        http.methods.clear();
        for (const std::string& listed : *methods) {
          const std::string method = to_ascii_upper(listed);
          static constexpr std::string_view kMethods[] = {"POST", "PUT", "PATCH", "DELETE", "GET"};
          if (std::find(std::begin(kMethods), std::end(kMethods), method) == std::end(kMethods)) {
            r_.error(*v, "unsupported method " + quote(method) +
                             "; one of: POST, PUT, PATCH, DELETE, GET");
          } else if (std::find(http.methods.begin(), http.methods.end(), method) == http.methods.end()) {
            http.methods.push_back(method);
          }
        }
      }
    }
    if (auto v = fields.get("auth")) http.auth = read_webhook_auth(*v);
    return http;
  }

  std::optional<WebhookAuth> read_webhook_auth(const Value& value) {
    MapReader auth(r_, value);
    auto bearer = auth.get("bearer");
    auto hmac = auth.get("hmac_sha256");
    auto standard = auth.get("standard_webhooks");
    if (static_cast<int>(bearer.has_value()) + hmac.has_value() + standard.has_value() > 1) {
      r_.error(value, "set one of bearer, hmac_sha256 and standard_webhooks, not several");
      return std::nullopt;
    }
    if (standard) return read_standard_webhooks(*standard);
    if (bearer) {
      MapReader fields(r_, *bearer);
      BearerAuth result;
      set_secret(fields.require("token"), result.token);
      return result;
    }
    if (hmac) {
      MapReader fields(r_, *hmac);
      HmacSha256Auth result;
      set_secret(fields.require("secret"), result.secret);
      if (auto v = fields.get("header")) {
        if (auto header = r_.non_empty_string(*v)) {
          if (is_http_token(*header)) result.header = *header;
          else r_.error(*v, quote(*header) + " is not a valid HTTP header name");
        }
      }
      if (auto v = fields.get("timestamp_header")) {
        if (auto header = r_.non_empty_string(*v)) {
          if (is_http_token(*header)) result.timestamp_header = *header;
          else r_.error(*v, quote(*header) + " is not a valid HTTP header name");
        }
      }
      if (auto v = fields.get("tolerance")) {
        if (result.timestamp_header.empty()) {
          r_.error(*v, "needs timestamp_header: without a signed timestamp there is no window");
        }
        set(v, result.tolerance, [&](const Value& t) { return r_.duration(t, Duration(1000)); });
      }
      return result;
    }
    if (auth.is_map()) r_.error(value, "must set bearer, hmac_sha256 or standard_webhooks");
    return std::nullopt;
  }

  StandardWebhooksAuth read_standard_webhooks(const Value& value) {
    MapReader fields(r_, value);
    StandardWebhooksAuth result;
    // `secret: whsec_...`, or `secrets:` (a list, or one string of them separated by commas)
    // during a rotation.
    auto one = fields.get("secret");
    auto several = fields.get("secrets");
    if (one && several) {
      r_.error(*several, "set either secret or secrets, not both");
    } else if (!one && !several) {
      r_.error(value, "must set secret (or secrets, several during a rotation)");
    }
    std::optional<Value> given = one ? one : several;
    if (!given || (one && several)) return result;
    given->secret = true;
    std::optional<std::vector<std::string>> secrets;
    if (one) {
      if (auto text = r_.non_empty_string(*given)) secrets.emplace(1, std::move(*text));
    } else {
      secrets = r_.string_list(*given);
      if (secrets && secrets->empty()) r_.error(*given, "must list at least one secret");
    }
    for (std::size_t i = 0; secrets && i < secrets->size(); ++i) {
      // whsec_ and base64, as senders show them; the prefix may be left out.
      std::string_view text = (*secrets)[i];
      if (text.starts_with("whsec_")) text.remove_prefix(6);
      std::optional<std::string> key = base64_decode(text);
      if (!key || key->empty()) {
        r_.error(*given, (one ? std::string("it") : "secret " + std::to_string(i + 1)) +
                             " is not whsec_ followed by base64 (its value is not shown)");
        continue;
      }
      result.keys.emplace_back(std::move(*key));
    }
    set(fields.get("tolerance"), result.tolerance,
        [&](const Value& t) { return r_.duration(t, Duration(1000)); });
    return result;
  }

  CronSource read_cron_source(MapReader& fields) {
    CronSource cron;
    if (auto v = fields.require("schedule")) {
      if (auto text = r_.non_empty_string(*v)) {
        if (auto refused = check_ ? check_->check_cron_schedule(*text) : std::nullopt) {
          r_.error(*v, "invalid schedule: " + *refused);
        } else {
          cron.schedule = *text;
        }
      }
    }
    if (auto v = fields.get("timezone")) {
      if (auto text = r_.non_empty_string(*v)) {
        if (auto refused = check_ ? check_->check_time_zone(*text) : std::nullopt) {
          r_.error(*v, *refused);
        } else {
          cron.timezone = *text;
        }
      }
    }
    set(fields.get("data"), cron.data_json, [&](const Value& v) { return r_.json(v); });
    assign(connection_ref_optional(fields, "lock", "a cron lock"), cron.lock);
    return cron;
  }

  std::optional<std::string> connection_ref_optional(MapReader& fields, std::string_view key,
                                                     std::string_view user) {
    if (!fields.has(key)) return std::nullopt;
    return connection_ref(fields, ConnectionType::redis, user, key);
  }

  void read_delivery(const Value& value, Trigger& trigger) {
    Delivery& delivery = trigger.delivery;
    MapReader fields(r_, value);
    if (auto v = fields.get("retries")) {
      if (auto n = r_.integer(*v, 0, INT64_MAX)) {
        if (*n > 1000) r_.error(*v, "must be at most 1000");
        else delivery.retries = static_cast<int>(*n);
      }
    }
    if (auto v = fields.get("backoff")) {
      MapReader backoff(r_, *v);
      if (auto p = backoff.get("policy")) {
        if (auto i = r_.choice(*p, {"exponential", "linear", "constant"}))
          delivery.backoff.policy = static_cast<BackoffPolicy>(*i);
      }
      auto delay = backoff.get("delay");
      set(delay, delivery.backoff.delay, [&](const Value& d) { return r_.duration(d); });
      auto max = backoff.get("max");
      set(max, delivery.backoff.max, [&](const Value& d) { return r_.duration(d); });
      if (delivery.backoff.delay > delivery.backoff.max) {
        const Value& at = max ? *max : (delay ? *delay : *v);
        r_.error(at, "backoff delay (" + format_duration(delivery.backoff.delay) +
                         ") must not exceed max (" + format_duration(delivery.backoff.max) + ")");
      }
    }
    auto max_inflight = fields.get("max_inflight");
    if (max_inflight) {
      if (auto n = r_.integer(*max_inflight, 1, 1'000'000)) {
        delivery.max_inflight = static_cast<int>(*n);
      }
    }
    if (auto v = fields.get("batch")) {
      auto max_events = read_batch(*v, delivery.batch.emplace());
      // A batch goes out full or at max_wait; with fewer events in flight than fill one, every
      // batch would wait out max_wait.
      if (delivery.max_inflight < delivery.batch->max_events) {
        const Value& at = max_inflight ? *max_inflight : (max_events ? *max_events : *v);
        r_.error(at, "max_inflight (" + std::to_string(delivery.max_inflight) +
                         ") must be at least batch.max_events (" +
                         std::to_string(delivery.batch->max_events) + "): a batch could never fill");
      }
    }
    if (auto v = fields.get("ordering")) {
      ordering_at_ = v->at;
      if (auto i = r_.choice(*v, {"none", "partition", "key"}))
        delivery.ordering = static_cast<Ordering>(*i);
    }
    if (auto v = fields.get("dead_letter")) {
      delivery.dead_letter = read_dead_letter(*v, delivery.dead_letter_retry_for);
    }
  }

  // `delivery.batch`; returns its max_events value, if set, to point at.
  std::optional<Value> read_batch(const Value& value, Delivery::Batch& batch) {
    MapReader fields(r_, value);
    auto max_events = fields.get("max_events");
    if (max_events) {
      if (auto n = r_.integer(*max_events, 1, 10'000)) batch.max_events = static_cast<int>(*n);
    }
    set(fields.get("max_wait"), batch.max_wait,
        [&](const Value& v) { return r_.duration(v, Duration(1)); });
    if (auto v = fields.get("max_bytes")) {
      if (auto size = r_.size(*v)) {
        if (*size < 1024) r_.error(*v, "must be at least 1KiB");
        else batch.max_bytes = static_cast<std::size_t>(*size);
      }
    }
    return max_events;
  }

  // ---- filters (docs/filters.md) -------------------------------------------------------

  static Value item_of(const Value& list, std::size_t index) {
    const Position at = position_of(list.node[index].GetMark());
    return Value{list.node[index], list.path + "[" + std::to_string(index) + "]", at, at};
  }

  void read_filters(const Value& value, std::vector<Filter>& out) {
    if (value.node.IsNull()) return;  // `filters:` with nothing under it: none
    if (!value.node.IsSequence()) {
      r_.error(value, "must be a list of filters, e.g. [{exact: {type: com.example.created}}]");
      return;
    }
    for (std::size_t i = 0; i < value.node.size(); ++i) {
      if (auto filter = read_filter(item_of(value, i))) out.push_back(std::move(*filter));
    }
  }

  // One filter: a mapping with exactly one dialect key. nullopt after any mistake in it.
  std::optional<Filter> read_filter(const Value& value) {
    static constexpr std::string_view kDialects[] = {"exact", "prefix", "suffix", "all",
                                                     "any",   "not",    "data"};
    constexpr const char* kOneOf = "one of: exact, prefix, suffix, all, any, not, data";
    if (!value.node.IsMap()) {
      r_.error(value, std::string("must be a filter: a mapping with ") + kOneOf);
      return std::nullopt;
    }
    MapReader fields(r_, value);
    auto [given, dialect, count] = fields.one_of(kDialects);
    if (count > 1) {
      r_.error(value, "a filter has one dialect; list several filters (all must match) or "
                      "nest them under all or any");
      return std::nullopt;
    }
    if (!given) {
      // Keys other than dialects are reported as unknown keys, with a suggestion.
      if (value.node.size() == 0) r_.error(value, std::string("must set ") + kOneOf);
      return std::nullopt;
    }
    Filter filter;
    filter.dialect = static_cast<Filter::Dialect>(dialect);
    bool ok = false;
    switch (filter.dialect) {
      case Filter::Dialect::exact:
      case Filter::Dialect::prefix:
      case Filter::Dialect::suffix:
        ok = read_attribute_matches(*given, filter.attributes);
        break;
      case Filter::Dialect::all:
      case Filter::Dialect::any:
        ok = read_filter_list(*given, filter.filters);
        break;
      case Filter::Dialect::negation:
        if (auto inner = read_filter(*given)) {
          filter.filters.push_back(std::move(*inner));
          ok = true;
        }
        break;
      case Filter::Dialect::data:
        ok = read_data_conditions(*given, filter.data);
        break;
    }
    if (!ok) return std::nullopt;
    return filter;
  }

  bool read_filter_list(const Value& value, std::vector<Filter>& out) {
    if (!value.node.IsSequence() || value.node.size() == 0) {
      r_.error(value, "must be a non-empty list of filters");
      return false;
    }
    bool ok = true;
    for (std::size_t i = 0; i < value.node.size(); ++i) {
      if (auto filter = read_filter(item_of(value, i))) out.push_back(std::move(*filter));
      else ok = false;
    }
    return ok;
  }

  // exact, prefix, suffix: a mapping of attribute names to the strings they are held to.
  bool read_attribute_matches(const Value& value, std::vector<AttributeMatch>& out) {
    if (!value.node.IsMap()) {
      r_.error(value, "must be a mapping of attribute names to values, e.g. "
                      "{type: com.example.created}");
      return false;
    }
    MapReader map(r_, value);
    bool ok = true;
    for (auto& [name, item] : map.entries()) {
      if (!is_cloudevents_attribute_name(name)) {
        r_.error(item.key_at, item.path,
                 "attribute name " + quote(name) +
                     " must be lower-case letters and digits (CloudEvents), e.g. type, subject");
        ok = false;
        continue;
      }
      if (name == "trigger" || name == "attempt") {
        // Added on delivery; no event carries them when it is filtered.
        r_.error(item.key_at, item.path,
                 quote(name) + " is set by triggerd on delivery; events have no such attribute "
                               "when they are filtered");
        ok = false;
        continue;
      }
      if (auto text = r_.non_empty_string(item)) out.push_back({name, std::move(*text)});
      else ok = false;
    }
    if (ok && out.empty()) {
      r_.error(value, "must name at least one attribute");
      return false;
    }
    return ok;
  }

  // data: a mapping of JSON paths to conditions. Its keys are paths, not names of the schema, so
  // they are read as written: a path ending in `_file` is a path like any other.
  bool read_data_conditions(const Value& value, std::vector<DataCondition>& out) {
    if (!value.node.IsMap() || value.node.size() == 0) {
      r_.error(value, "must be a mapping of JSON paths to conditions, e.g. "
                      "{amount: {numeric: [\">=\", 100]}}");
      return false;
    }
    MapReader map(r_, value);  // reports duplicate keys
    map.accept_all();
    bool ok = true;
    std::vector<std::string> seen;
    for (std::size_t i = 0; i < value.node.size(); ++i) {
      auto [key_node, value_node] = value.node.entry(i);
      if (!key_node.IsScalar()) continue;  // reported by the MapReader
      const std::string& path = key_node.Scalar();
      if (std::find(seen.begin(), seen.end(), path) != seen.end()) continue;  // a duplicate
      seen.push_back(path);
      const Position key_at = position_of(key_node.GetMark());
      Value item{value_node, value.path + "." + path, key_at, key_at};
      if (!value_node.IsNull()) item.at = position_of(value_node.GetMark());
      if (!is_json_path(path)) {
        r_.error(key_at, item.path,
                 "JSON path " + quote(path) +
                     " must be object keys separated by dots, e.g. customer.id");
        ok = false;
        continue;
      }
      if (auto condition = read_data_condition(item)) {
        condition->path = path;
        out.push_back(std::move(*condition));
      } else {
        ok = false;
      }
    }
    return ok;
  }

  static bool is_json_path(std::string_view path) {
    return !path.empty() && !path.starts_with('.') && !path.ends_with('.') &&
           path.find("..") == std::string_view::npos;
  }

  // A value (any of a list of values), or a mapping with one operator.
  std::optional<DataCondition> read_data_condition(const Value& value) {
    constexpr const char* kExpected =
        "must be a value, a list of values, or a mapping with one of: prefix, numeric, exists, "
        "anything-but";
    DataCondition condition;
    if (value.node.IsScalar() || value.node.IsNull()) {
      auto scalar = data_scalar(value);
      if (!scalar) return std::nullopt;
      condition.values.push_back(std::move(*scalar));
      return condition;
    }
    if (value.node.IsSequence()) {
      if (!data_scalars(value, condition.values)) return std::nullopt;
      return condition;
    }
    if (!value.node.IsMap()) {
      r_.error(value, kExpected);
      return std::nullopt;
    }
    MapReader fields(r_, value);
    static constexpr std::string_view kOperators[] = {"prefix", "numeric", "exists",
                                                      "anything-but"};
    auto [given, which, count] = fields.one_of(kOperators);
    if (count > 1) {
      r_.error(value, "set one of prefix, numeric, exists and anything-but, not several");
      return std::nullopt;
    }
    if (!given) {
      if (value.node.size() == 0) r_.error(value, kExpected);
      return std::nullopt;
    }
    switch (which) {
      case 0: {
        condition.kind = DataCondition::Kind::prefix;
        auto text = r_.non_empty_string(*given);
        if (!text) return std::nullopt;
        condition.prefix = std::move(*text);
        return condition;
      }
      case 1:
        condition.kind = DataCondition::Kind::numeric;
        if (!read_numeric(*given, condition.numeric)) return std::nullopt;
        return condition;
      case 2: {
        condition.kind = DataCondition::Kind::exists;
        auto flag = r_.boolean(*given);
        if (!flag) return std::nullopt;
        condition.exists = *flag;
        return condition;
      }
      default:
        condition.kind = DataCondition::Kind::anything_but;
        if (given->node.IsSequence()) {
          if (!data_scalars(*given, condition.values)) return std::nullopt;
        } else if (auto scalar = data_scalar(*given)) {
          condition.values.push_back(std::move(*scalar));
        } else {
          return std::nullopt;
        }
        return condition;
    }
  }

  // numeric: pairs of an operator and a number, every one of which must hold.
  bool read_numeric(const Value& value, std::vector<NumericBound>& out) {
    const std::size_t size = value.node.IsSequence() ? value.node.size() : 0;
    if (size == 0 || size % 2 != 0) {
      r_.error(value, "must be pairs of an operator and a number, e.g. [\">=\", 0, \"<\", 100]");
      return false;
    }
    bool ok = true;
    for (std::size_t i = 0; i < size; i += 2) {
      NumericBound bound;
      if (auto op = r_.choice(item_of(value, i), {"<", "<=", "=", ">", ">="})) {
        bound.op = static_cast<NumericOp>(*op);
      } else {
        ok = false;
      }
      const Value number_value = item_of(value, i + 1);
      auto number = data_scalar(number_value);
      if (number && std::holds_alternative<double>(*number)) {
        bound.value = std::get<double>(*number);
      } else {
        if (number) r_.error(number_value, "must be a number");
        ok = false;
      }
      out.push_back(bound);
    }
    return ok;
  }

  bool data_scalars(const Value& list, std::vector<DataScalar>& out) {
    if (list.node.size() == 0) {
      r_.error(list, "must list at least one value");
      return false;
    }
    bool ok = true;
    for (std::size_t i = 0; i < list.node.size(); ++i) {
      if (auto scalar = data_scalar(item_of(list, i))) out.push_back(std::move(*scalar));
      else ok = false;
    }
    return ok;
  }

  // A string, a number or a boolean, typed as the YAML spells it (cron's `data` does the same):
  // 100 and true are a number and a boolean, "100" and "true" strings.
  std::optional<DataScalar> data_scalar(const Value& value) {
    constexpr const char* kExpected = "must be a string, a number, true or false";
    constexpr const char* kNotNull =
        ", not null (a path that leads nowhere, or to null, is matched by {exists: false})";
    if (value.node.IsNull()) {
      r_.error(value, std::string(kExpected) + kNotNull);
      return std::nullopt;
    }
    if (!value.node.IsScalar()) {
      r_.error(value, kExpected);
      return std::nullopt;
    }
    auto text = r_.json(value);
    if (!text) return std::nullopt;
    const boost::json::value parsed = boost::json::parse(*text);
    switch (parsed.kind()) {
      case boost::json::kind::string: return std::string(parsed.get_string());
      case boost::json::kind::int64: return static_cast<double>(parsed.get_int64());
      case boost::json::kind::uint64: return static_cast<double>(parsed.get_uint64());
      case boost::json::kind::double_: return parsed.get_double();
      case boost::json::kind::bool_: return parsed.get_bool();
      default:
        r_.error(value, std::string(kExpected) + kNotNull);
        return std::nullopt;
    }
  }

  std::optional<DeadLetter> read_dead_letter(const Value& value, Duration& retry_for) {
    MapReader fields(r_, value);
    if (auto v = fields.get("retry_for")) {
      // A day is long past any outage worth waiting out with the trigger held up.
      if (auto d = r_.duration(*v)) {
        if (*d > 24h) r_.error(*v, "must be at most 24h");
        else retry_for = *d;
      }
    }
    auto type_value = fields.require("type");
    std::optional<std::size_t> type;
    if (type_value) type = r_.choice(*type_value, {"redis-stream", "redis-list", "kafka", "http"});
    if (!type) {
      fields.accept_all();
      return std::nullopt;
    }
    auto non_empty = [&](const Value& v) { return r_.non_empty_string(v); };
    switch (*type) {
      case 0: {
        RedisStreamDeadLetter dl;
        assign(connection_ref(fields, ConnectionType::redis, "a redis-stream dead letter"), dl.connection);
        set(fields.require("stream"), dl.stream, non_empty);
        return dl;
      }
      case 1: {
        RedisListDeadLetter dl;
        assign(connection_ref(fields, ConnectionType::redis, "a redis-list dead letter"), dl.connection);
        set(fields.require("list"), dl.list, non_empty);
        return dl;
      }
      case 2: {
        KafkaDeadLetter dl;
        assign(connection_ref(fields, ConnectionType::kafka, "a kafka dead letter"), dl.connection);
        if (auto v = fields.require("topic")) {
          if (auto topic = r_.non_empty_string(*v)) {
            if (is_kafka_topic_name(*topic)) dl.topic = *topic;
            else r_.error(*v, "topic " + quote(*topic) + " is not a valid Kafka topic name");
          }
        }
        return dl;
      }
      default: {
        HttpDeadLetter dl;
        set(fields.require("url"), dl.url, [&](const Value& v) { return r_.http_url(v); });
        read_tls(fields, dl.url, dl.tls);
        return dl;
      }
    }
  }

  void read_scaling(const Value& value, Scaling& scaling) {
    MapReader fields(r_, value);
    auto number = [&](std::string_view key, std::int64_t min, std::int64_t& target) {
      auto v = fields.get(key);
      if (v) {
        if (auto n = r_.integer(*v, min, INT64_MAX)) target = *n;
      }
      return v;
    };
    if (auto v = fields.get("mode")) {
      if (auto i = r_.choice(*v, {"backlog", "demand"})) {
        scaling.mode = *i == 0 ? ScalingMode::kBacklog : ScalingMode::kDemand;
      }
    }
    number("target_per_replica", 1, scaling.target_per_replica);
    number("concurrency_per_replica", 1, scaling.concurrency_per_replica);
    number("activation", 0, scaling.activation);
    set(fields.get("drain_within"), scaling.drain_within,
        [&](const Value& v) { return r_.duration(v, Duration(1)); });
    set(fields.get("activation_timeout"), scaling.activation_timeout,
        [&](const Value& v) { return r_.duration(v); });
    auto min = number("min_replicas", 0, scaling.min_replicas);
    auto max = number("max_replicas", 1, scaling.max_replicas);
    if (scaling.min_replicas > scaling.max_replicas) {
      const Value& at = max ? *max : (min ? *min : value);
      r_.error(at, "min_replicas (" + std::to_string(scaling.min_replicas) +
                       ") must not exceed max_replicas (" + std::to_string(scaling.max_replicas) + ")");
    }
  }

  void check_key_name(const std::string& name, const Value& item) {
    if (!is_valid_name(name)) r_.error(item.key_at, item.path, name_rule_message(name));
  }

  Reader& r_;
  const ConnectorCheck* check_;
  std::map<std::string, std::optional<ConnectionType>> connection_types_;
  std::vector<std::string> function_names_;
  std::map<std::string, std::string> http_paths_;  // path -> trigger
  Position ordering_at_;
  std::optional<Value> claim_idle_value_;  // of the redis-stream source read last
};

std::string folder_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

LoadResult load(const std::string& text, const std::string& file_name, const std::string& base_dir,
                const ConnectorCheck* check) {
  LoadResult result;
  Reader reader(file_name, base_dir, process_env(), result.diagnostics);
  yaml::ParseError parse_error;
  std::unique_ptr<yaml::Document> document = yaml::Document::parse(text, &parse_error);
  if (!document) {
    reader.error(position_of(parse_error.mark), "", "invalid YAML: " + parse_error.message);
    return result;
  }
  const yaml::Node root = document->root();
  Config config;
  {
    Schema schema(reader, check);
    config = schema.read(root);
  }  // the MapReaders have reported unknown keys by now
  config.file = file_name;
  config.checksum = checksum_of(text);
  std::stable_sort(result.diagnostics.begin(), result.diagnostics.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     return std::tie(a.line, a.column) < std::tie(b.line, b.column);
                   });
  if (!reader.failed()) result.config = std::move(config);
  return result;
}

}  // namespace

LoadResult load_string(const std::string& yaml_text, const std::string& file_name,
                       const ConnectorCheck* check) {
  return load(yaml_text, file_name, folder_of(file_name), check);
}

LoadResult load_file(const std::string& path, const ConnectorCheck* check) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult result;
    result.diagnostics.push_back(
        {Severity::error, path, 1, 1, "", std::string("cannot read the file: ") + std::strerror(errno)});
    return result;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return load_string(text.str(), path, check);
}

}  // namespace triggerd::config
