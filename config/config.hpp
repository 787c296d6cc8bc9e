#pragma once
// The typed configuration of triggerd: what config/loader.cpp builds from the YAML file
// after every check has passed. Defaults here are the documented defaults
// (docs/configuration.md); the loader only overrides what the file sets.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "config/secret.hpp"
#include "core/desired_replicas.hpp"
#include "core/host_port.hpp"
#include "core/log_options.hpp"
#include "core/tls_client.hpp"

namespace triggerd::config {

using Duration = std::chrono::milliseconds;
using namespace std::chrono_literals;

// Types that the layer below (core/) uses too, under their config names.
using HostPort = triggerd::HostPort;
using LogLevel = logging::Level;
using LogFormat = logging::Format;
using LogConfig = logging::Options;
using Scaling = triggerd::Scaling;

// An http:// or https:// URL split into what a client needs to connect and send.
struct HttpUrl {
  std::string text;    // as written, for logs (never carries credentials: userinfo is refused)
  std::string host;
  std::uint16_t port = 80;  // 443 for https when the URL gives none
  std::string target;  // path and query, at least "/"
  bool https = false;
  bool operator==(const HttpUrl&) const = default;
};

// `Authorization: Bearer TOKEN` on a webhook route, or on the admin API.
struct BearerAuth {
  Secret token;
  bool operator==(const BearerAuth&) const = default;
};

// The most a webhook body may be: the server buffers bodies in memory, and this is the budget
// all of its connections share.
inline constexpr std::uint64_t kMaxBodySizeLimit = 64 * 1024 * 1024;

struct ServerConfig {
  HostPort listen{"0.0.0.0", 8080};
  HostPort admin_listen{"0.0.0.0", 9090};
  std::uint64_t max_body_size = 1024 * 1024;
  Duration shutdown_timeout = 25s;
  // The KEDA external scaler's gRPC address (docs/autoscaling.md); absent: no scaler.
  std::optional<HostPort> scaler_listen;
  // Reload when the config file changes on disk (docs/configuration.md), as well as on SIGHUP.
  bool watch_config = true;
  // Required on the admin API's routes except /livez and /readyz (docs/admin-api.md); absent:
  // open, for an admin_listen that only the pod or the host can reach.
  std::optional<BearerAuth> admin_auth;
  bool operator==(const ServerConfig&) const = default;
};

struct KafkaConnection {
  std::vector<std::string> brokers;  // host:port each
  // librdkafka properties in file order; values of secret-looking keys are redacted when shown.
  std::vector<std::pair<std::string, Secret>> options;
  bool operator==(const KafkaConnection&) const = default;
};

struct RedisConnection {
  HostPort address{"127.0.0.1", 6379};
  std::string username;  // empty: no ACL user (AUTH with the password alone)
  Secret password;
  int db = 0;
  bool operator==(const RedisConnection&) const = default;
};

struct Connection {
  std::string name;
  std::variant<KafkaConnection, RedisConnection> spec;
  bool operator==(const Connection&) const = default;
};

struct Function {
  std::string name;
  HttpUrl url;
  Duration timeout = 30s;
  int max_concurrency = 100;
  // Added to every request. Values are secrets: they often carry tokens.
  std::vector<std::pair<std::string, Secret>> headers;
  TlsClientSettings tls;  // for an https url
  bool operator==(const Function&) const = default;
};

enum class KafkaStart { earliest, latest };

struct KafkaSource {
  std::string connection;
  std::vector<std::string> topics;
  std::string group;  // default: triggerd-<trigger>
  KafkaStart start = KafkaStart::earliest;
  bool operator==(const KafkaSource&) const = default;
};

struct RedisStreamSource {
  std::string connection;
  std::string stream;
  std::string group = "triggerd";
  std::string consumer;     // default: the host name
  std::string start = "$";  // "$" or "0"
  Duration claim_idle = 60s;
  int count = 100;
  bool operator==(const RedisStreamSource&) const = default;
};

struct RedisListSource {
  std::string connection;
  std::string list;
  std::string consumer;  // default: the host name; one live process per name
  bool operator==(const RedisListSource&) const = default;
};

// How old (or how far ahead) a signed request's timestamp may be, by default.
inline constexpr Duration kDefaultSignatureTolerance = std::chrono::minutes(5);

struct HmacSha256Auth {
  Secret secret;
  std::string header = "X-Hub-Signature-256";
  // Set: the request's Unix time in seconds comes in this header, the signature covers
  // "TIMESTAMP.BODY", and a request outside `tolerance` of now is refused (no replays).
  std::string timestamp_header;
  Duration tolerance = kDefaultSignatureTolerance;
  bool operator==(const HmacSha256Auth&) const = default;
};

// The Standard Webhooks scheme: webhook-id, webhook-timestamp and webhook-signature headers,
// "v1,BASE64" signatures of "ID.TIMESTAMP.BODY".
struct StandardWebhooksAuth {
  // The decoded key bytes of each `whsec_BASE64` secret; a signature by any of them passes
  // (several during a rotation).
  std::vector<Secret> keys;
  Duration tolerance = kDefaultSignatureTolerance;
  bool operator==(const StandardWebhooksAuth&) const = default;
};

using WebhookAuth = std::variant<BearerAuth, HmacSha256Auth, StandardWebhooksAuth>;

struct HttpSource {
  std::string path;                           // starts with '/'
  std::vector<std::string> methods{"POST"};   // upper case
  std::optional<WebhookAuth> auth;
  bool operator==(const HttpSource&) const = default;
};

struct CronSource {
  std::string schedule;
  std::string timezone = "UTC";
  std::string data_json = "{}";  // the `data` YAML as JSON text; {} when absent
  std::string lock;              // redis connection name; empty: no lock
  bool operator==(const CronSource&) const = default;
};

using SourceSpec =
    std::variant<KafkaSource, RedisStreamSource, RedisListSource, HttpSource, CronSource>;

enum class BackoffPolicy { exponential, linear, constant };

struct Backoff {
  BackoffPolicy policy = BackoffPolicy::exponential;
  Duration delay = 200ms;
  Duration max = 30s;
  bool operator==(const Backoff&) const = default;
};

enum class Ordering { none, partition, key };

struct RedisStreamDeadLetter {
  std::string connection;
  std::string stream;
  bool operator==(const RedisStreamDeadLetter&) const = default;
};
struct RedisListDeadLetter {
  std::string connection;
  std::string list;
  bool operator==(const RedisListDeadLetter&) const = default;
};
struct KafkaDeadLetter {
  std::string connection;
  std::string topic;
  bool operator==(const KafkaDeadLetter&) const = default;
};
struct HttpDeadLetter {
  HttpUrl url;
  TlsClientSettings tls;  // for an https url
  bool operator==(const HttpDeadLetter&) const = default;
};

using DeadLetter =
    std::variant<RedisStreamDeadLetter, RedisListDeadLetter, KafkaDeadLetter, HttpDeadLetter>;

// `delivery.batch`: several events in one request to the function. At namespace scope, not
// nested in Delivery: clang judges a nested struct with default member initializers not
// default-constructible while the enclosing one is incomplete, and std::optional<Batch> would
// then refuse emplace().
struct Batch {
  int max_events = 100;
  Duration max_wait{100};  // the oldest event of a batch waits at most this long
  std::size_t max_bytes = std::size_t{1} << 20;
  bool operator==(const Batch&) const = default;
};

struct Delivery {
  using Batch = config::Batch;
  int retries = 5;
  Backoff backoff;
  int max_inflight = 100;
  Ordering ordering = Ordering::none;
  std::optional<DeadLetter> dead_letter;
  // `dead_letter.retry_for`: how long a dead letter that keeps failing temporarily is retried
  // for one event (and at most since it started failing) before the event is dropped.
  Duration dead_letter_retry_for = 5min;
  std::optional<Batch> batch;  // delivery.batch: absent = one event per request
  bool operator==(const Delivery&) const = default;
};

// ---- filters (docs/filters.md) ----------------------------------------------------------

// A value a `data` condition compares the payload's JSON with: a string, a number (compared as
// a double, so integers are exact up to 2^53) or a boolean.
using DataScalar = std::variant<std::string, double, bool>;

enum class NumericOp { less, less_equal, equal, greater, greater_equal };

struct NumericBound {
  NumericOp op = NumericOp::equal;
  double value = 0;
  bool operator==(const NumericBound&) const = default;
};

// One entry of a `data` filter: the value at a JSON path of the payload, and what it must be.
struct DataCondition {
  enum class Kind { equals, prefix, numeric, exists, anything_but };
  std::string path;  // object keys separated by dots, e.g. customer.id
  Kind kind = Kind::equals;
  std::vector<DataScalar> values;      // equals: any of them; anything_but: none of them
  std::string prefix;                  // prefix: of a string value
  std::vector<NumericBound> numeric;   // numeric: every bound holds
  bool exists = true;                  // exists: whether the path must lead to a value
  bool operator==(const DataCondition&) const = default;
};

// One attribute of an `exact`, `prefix` or `suffix` filter.
struct AttributeMatch {
  std::string attribute;  // id, source, type, subject, time, ... or an extension's name
  std::string value;      // never empty
  bool operator==(const AttributeMatch&) const = default;
};

// One entry of a trigger's `filters`: a dialect of the CloudEvents Subscriptions API, or `data`
// over a JSON payload. Nested filters make it a tree.
struct Filter {
  enum class Dialect { exact, prefix, suffix, all, any, negation, data };
  Dialect dialect = Dialect::all;
  std::vector<AttributeMatch> attributes;  // exact, prefix, suffix: every one matches
  std::vector<Filter> filters;             // all: every one; any: one; negation (`not`): one
  std::vector<DataCondition> data;         // data: every one holds
  bool operator==(const Filter&) const = default;
};

struct Trigger {
  std::string name;
  std::string function;
  SourceSpec source;
  Delivery delivery;
  Scaling scaling;
  // Every one must match for an event to be delivered; empty: every event is. A reload that
  // changes only these applies them to the running trigger (broker/config_diff.cpp).
  std::vector<Filter> filters;
  bool operator==(const Trigger&) const = default;
};

struct Config {
  std::string file;      // the path it was loaded from
  std::string checksum;  // config::checksum_of the bytes it was read from (config/checksum.hpp)
  ServerConfig server;
  LogConfig log;
  std::vector<Connection> connections;  // in file order
  std::vector<Function> functions;
  std::vector<Trigger> triggers;

  const Connection* find_connection(std::string_view name) const;
  const Function* find_function(std::string_view name) const;
  const Trigger* find_trigger(std::string_view name) const;
};

// Names of connections, functions and triggers: [a-z0-9][a-z0-9-]*, at most 63 characters
// (they become metric label values, Kubernetes object names and URL path segments).
bool is_valid_name(std::string_view name);

// Names used in the docs and in the admin API for the variant alternatives.
const char* source_type_name(const SourceSpec& source);
const char* dead_letter_type_name(const DeadLetter& dead_letter);

}  // namespace triggerd::config
