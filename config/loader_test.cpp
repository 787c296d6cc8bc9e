#include "config/loader.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <string>
#include <vector>

#include "connectors/registry.hpp"
#include "core/text.hpp"

namespace triggerd::config {
namespace {

std::vector<std::string> errors_of(const LoadResult& result) {
  std::vector<std::string> errors;
  for (const auto& d : result.diagnostics) {
    if (d.severity == Severity::error) errors.push_back(d.to_string());
  }
  return errors;
}

struct MistakeCase {
  const char* name;
  const char* yaml;
  const char* expected;  // the one error, without the "t.yaml:" prefix
};

// Each file holds exactly one mistake; the test asserts the whole error line.
const MistakeCase kMistakes[] = {
    {"UnknownTopLevelKey", R"(functions: {}
triggers: {}
servr: {}
)",
     "3:1: error: servr: unknown key \"servr\" (did you mean \"server\"?)"},
    {"UnknownNestedKeyWithSuggestion", R"(functions:
  fn:
    url: http://127.0.0.1:9000/
    timout: 5s
triggers: {}
)",
     "4:5: error: functions.fn.timout: unknown key \"timout\" (did you mean \"timeout\"?)"},
    {"DuplicateKey", R"(functions:
  fn:
    url: http://127.0.0.1:9000/
    url: http://127.0.0.1:9001/
triggers: {}
)",
     "4:5: error: functions.fn.url: duplicate key \"url\" (first at line 3)"},
    {"NegativeRetries", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    delivery:
      retries: -1
)",
     "8:16: error: triggers.orders.delivery.retries: must be an integer >= 0"},
    {"RetriesNotANumber", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    delivery: {retries: many}
)",
     "7:25: error: triggers.orders.delivery.retries: must be an integer >= 0"},
    {"DurationWithoutUnit", R"(functions:
  fn:
    url: http://127.0.0.1:9000/
    timeout: 30
triggers: {}
)",
     "4:14: error: functions.fn.timeout: must be a duration with a unit, e.g. 250ms, 5s, 2m, 1h, "
     "got \"30\""},
    {"DurationUnknownUnit", R"(server:
  shutdown_timeout: 5 seconds
functions: {}
triggers: {}
)",
     "2:21: error: server.shutdown_timeout: must be a duration with a unit, e.g. 250ms, 5s, 2m, "
     "1h, got \"5 seconds\""},
    {"BadSize", R"(server:
  max_body_size: 1 megabyte
functions: {}
triggers: {}
)",
     "2:18: error: server.max_body_size: must be a size with a unit, e.g. 512KiB, 1MiB, got \"1 "
     "megabyte\""},
    {"BodySizeOverTheLimit", R"(server:
  max_body_size: 65MiB
functions: {}
triggers: {}
)",
     "2:18: error: server.max_body_size: must be at most 64MiB: webhook bodies are held in "
     "memory"},
    {"AdminAuthWithoutAScheme", R"(server:
  admin_auth: {}
functions: {}
triggers: {}
)",
     "2:15: error: server.admin_auth: must set bearer"},
    {"AdminAuthEmptyToken", R"(server:
  admin_auth: {bearer: {token: ""}}
functions: {}
triggers: {}
)",
     "2:32: error: server.admin_auth.bearer.token: must be a non-empty string"},
    {"WatchConfigNotABoolean", R"(server:
  watch_config: yes
functions: {}
triggers: {}
)",
     "2:17: error: server.watch_config: must be true or false, got \"yes\""},
    {"BadTriggerName", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  Orders_V2:
    function: fn
    source: {type: http, path: /a}
)",
     "4:3: error: triggers.Orders_V2: name \"Orders_V2\" must be lower-case letters, digits and "
     "'-', start with a letter or digit, and be at most 63 characters"},
    {"NotAnHttpUrl", R"(functions:
  fn:
    url: ftp://example.com/x
triggers: {}
)",
     "3:10: error: functions.fn.url: must be an http:// or https:// URL with a host, e.g. "
     "http://127.0.0.1:9000/path"},
    {"UrlWithBadPort", R"(functions:
  fn:
    url: http://127.0.0.1:99999/x
triggers: {}
)",
     "3:10: error: functions.fn.url: must be an http:// or https:// URL with a host, e.g. "
     "http://127.0.0.1:9000/path"},
    {"TlsOnAnHttpUrl", R"(functions:
  fn:
    url: http://127.0.0.1:9000/x
    tls: {insecure_skip_verify: true}
triggers: {}
)",
     "4:10: error: functions.fn.tls: applies to https:// URLs only"},
    {"TlsCaFileMissing", R"(functions:
  fn:
    url: https://fn.example/x
    tls:
      ca_file: /nonexistent/ca.pem
triggers: {}
)",
     "5:16: error: functions.fn.tls.ca_file: cannot read /nonexistent/ca.pem: No such file or "
     "directory"},
    {"TlsClientCertWithoutKey", R"(functions:
  fn:
    url: https://fn.example/x
    tls: {client_cert_file: /nonexistent/client.pem}
triggers: {}
)",
     "4:10: error: functions.fn.tls: client_cert_file and client_key_file go together"},
    {"TlsUnknownKey", R"(functions:
  fn:
    url: https://fn.example/x
    tls: {ca: /etc/ssl/certs/ca-certificates.crt}
triggers: {}
)",
     "4:11: error: functions.fn.tls.ca: unknown key \"ca\""},
    {"HttpDeadLetterTlsCaFileMissing", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  t:
    function: fn
    source: {type: http, path: /a}
    delivery:
      dead_letter:
        type: http
        url: https://dlq.example/in
        tls: {ca_file: /nonexistent/dlq-ca.pem}
)",
     "11:24: error: triggers.t.delivery.dead_letter.tls.ca_file: cannot read "
     "/nonexistent/dlq-ca.pem: No such file or directory"},
    {"BadHostPort", R"(connections:
  cache:
    type: redis
    address: localhost
functions: {}
triggers: {}
)",
     "4:14: error: connections.cache.address: must be HOST:PORT, e.g. 127.0.0.1:6379, got "
     "\"localhost\""},
    {"UndefinedFunction", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: resize
    source: {type: http, path: /a}
)",
     "5:15: error: triggers.orders.function: function \"resize\" is not defined under functions"},
    {"UndefinedConnection", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source:
      type: redis-list
      connection: cache
      list: jobs
)",
     "8:19: error: triggers.orders.source.connection: connection \"cache\" is not defined under "
     "connections"},
    {"ConnectionOfWrongType", R"(connections:
  bus: {type: kafka, brokers: "127.0.0.1:9092"}
functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: redis-stream, connection: bus, stream: s}
)",
     "8:46: error: triggers.orders.source.connection: connection \"bus\" is of type kafka; a "
     "redis-stream source needs a redis connection"},
    {"MissingRequiredKey", R"(functions:
  fn:
    timeout: 5s
triggers: {}
)",
     "2:3: error: functions.fn: missing required key \"url\""},
    {"MissingFunctionsSection", R"(triggers: {}
)",
     "1:1: error: missing required key \"functions\""},
    {"UnknownSourceType", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source:
      type: sqs
      queue: q
)",
     "7:13: error: triggers.orders.source.type: must be one of: kafka, redis-stream, redis-list, "
     "http, cron, got \"sqs\""},
    {"BadEnum", R"(log:
  level: verbose
functions: {}
triggers: {}
)",
     "2:10: error: log.level: must be one of: trace, debug, info, warn, error, got \"verbose\""},
    {"WrongTypeMappingExpected", R"(functions:
  fn: [http://127.0.0.1:9000/]
triggers: {}
)",
     "2:7: error: functions.fn: must be a mapping"},
    {"WrongTypeScalarExpected", R"(functions:
  fn:
    url: {host: x}
triggers: {}
)",
     "3:10: error: functions.fn.url: must be an http:// or https:// URL with a host, e.g. "
     "http://127.0.0.1:9000/path"},
    {"OutOfRangeConcurrency", R"(functions:
  fn:
    url: http://127.0.0.1:9000/
    max_concurrency: 0
triggers: {}
)",
     "4:22: error: functions.fn.max_concurrency: must be an integer from 1 to 100000"},
    {"InvalidCronExpression", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  tick:
    function: fn
    source: {type: cron, schedule: "61 * * * *"}
)",
     "6:36: error: triggers.tick.source.schedule: invalid schedule: minute field: 61 is out of "
     "range 0-59"},
    {"UnknownTimeZone", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  tick:
    function: fn
    source: {type: cron, schedule: "@hourly", timezone: Mars/Olympus}
)",
     "6:57: error: triggers.tick.source.timezone: unknown time zone \"Mars/Olympus\""},
    {"UnsetEnvironmentVariable", R"(functions:
  fn:
    url: http://${TRIGGERD_TEST_SURELY_UNSET}/x
triggers: {}
)",
     "3:10: error: functions.fn.url: environment variable TRIGGERD_TEST_SURELY_UNSET is not set "
     "(write ${TRIGGERD_TEST_SURELY_UNSET:-default} to give a default)"},
    {"UnreadableSecretFile", R"(connections:
  cache:
    type: redis
    password_file: /nonexistent/triggerd-secret
functions: {}
triggers: {}
)",
     "4:20: error: connections.cache.password_file: cannot read file "
     "\"/nonexistent/triggerd-secret\": No such file or directory"},
    {"ValueAndFileBoth", R"(connections:
  cache:
    type: redis
    password: x
    password_file: /tmp/x
functions: {}
triggers: {}
)",
     "5:5: error: connections.cache.password_file: set either password or password_file, not "
     "both"},
    {"TopicAndTopics", R"(connections:
  bus: {type: kafka, brokers: [127.0.0.1:9092]}
functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source:
      type: kafka
      connection: bus
      topic: a
      topics: [b, c]
)",
     "12:15: error: triggers.orders.source.topics: set either topic or topics, not both"},
    {"MinReplicasAboveMax", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    scaling:
      min_replicas: 5
      max_replicas: 2
)",
     "9:21: error: triggers.orders.scaling.max_replicas: min_replicas (5) must not exceed "
     "max_replicas (2)"},
    {"BackoffDelayAboveMax", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    delivery:
      backoff: {delay: 1m, max: 10s}
)",
     "8:33: error: triggers.orders.delivery.backoff.max: backoff delay (1m) must not exceed max "
     "(10s)"},
    {"OrderingOnNonKafkaSource", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    delivery:
      ordering: key
)",
     "8:17: error: triggers.orders.delivery.ordering: partition and key ordering apply to kafka "
     "sources only"},
    {"DuplicateWebhookPath", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  a:
    function: fn
    source: {type: http, path: /hooks}
  b:
    function: fn
    source: {type: http, path: /hooks}
)",
     "9:32: error: triggers.b.source.path: path \"/hooks\" is already used by trigger \"a\""},
    {"ReservedFunctionHeader", R"(functions:
  fn:
    url: http://127.0.0.1:9000/
    headers:
      ce-type: custom
triggers: {}
)",
     "5:7: error: functions.fn.headers.ce-type: \"ce-type\" is set by triggerd and cannot be "
     "overridden"},
    {"KafkaOptionOwnedByTriggerd", R"(connections:
  bus:
    type: kafka
    brokers: 127.0.0.1:9092
    options:
      enable.auto.commit: true
functions: {}
triggers: {}
)",
     "6:7: error: connections.bus.options.enable.auto.commit: \"enable.auto.commit\" is set by "
     "triggerd (use brokers, group and start instead)"},
    {"StandardWebhooksSecretNotBase64", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  hook:
    function: fn
    source:
      type: http
      path: /h
      auth:
        standard_webhooks: {secrets: [whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, "whsec_not base64!"]}
)",
     "10:38: error: triggers.hook.source.auth.standard_webhooks.secrets: secret 2 is not whsec_ "
     "followed by base64 (its value is not shown)"},
    {"StandardWebhooksSecretAndSecrets", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  hook:
    function: fn
    source:
      type: http
      path: /h
      auth:
        standard_webhooks: {secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, secrets: [whsec_MfKQ]}
)",
     "10:86: error: triggers.hook.source.auth.standard_webhooks.secrets: set either secret or "
     "secrets, not both"},
    {"ToleranceWithoutTimestampHeader", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  hook:
    function: fn
    source:
      type: http
      path: /h
      auth:
        hmac_sha256: {secret: b, tolerance: 5m}
)",
     "10:45: error: triggers.hook.source.auth.hmac_sha256.tolerance: needs timestamp_header: "
     "without a signed timestamp there is no window"},
    {"BothAuthKinds", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  hook:
    function: fn
    source:
      type: http
      path: /h
      auth:
        bearer: {token: a}
        hmac_sha256: {secret: b}
)",
     "10:9: error: triggers.hook.source.auth: set one of bearer, hmac_sha256 and "
     "standard_webhooks, not several"},
    {"DeadLetterMissingStream", R"(connections:
  cache: {type: redis}
functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    delivery:
      dead_letter: {type: redis-stream, connection: cache}
)",
     "10:7: error: triggers.orders.delivery.dead_letter: missing required key \"stream\""},
    {"DeadLetterRetryForOverADay", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    delivery:
      dead_letter: {type: http, url: "http://127.0.0.1:9999/dlq", retry_for: 25h}
)",
     "8:78: error: triggers.orders.delivery.dead_letter.retry_for: must be at most 24h"},
    {"SameListenPorts", R"(server:
  listen: 0.0.0.0:8080
  admin_listen: 127.0.0.1:8080
functions: {}
triggers: {}
)",
     "3:17: error: server.admin_listen: listen and admin_listen must use different ports"},
    {"ScalerOnTheAdminPort", R"(server:
  admin_listen: 127.0.0.1:9090
  scaler_listen: 0.0.0.0:9090
functions: {}
triggers: {}
)",
     "3:18: error: server.scaler_listen: scaler_listen and admin_listen must use different ports"},
    {"UnknownScalingMode", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    scaling: {mode: latency}
)",
     "7:21: error: triggers.orders.scaling.mode: must be one of: backlog, demand, got \"latency\""},
    {"ZeroConcurrencyPerReplica", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    scaling: {mode: demand, concurrency_per_replica: 0}
)",
     "7:54: error: triggers.orders.scaling.concurrency_per_replica: must be an integer >= 1"},
    {"FilterUnknownDialect", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters:
      - exakt: {type: a}
)",
     "8:9: error: triggers.orders.filters[0].exakt: unknown key \"exakt\" (did you mean \"exact\"?)"},
    {"FilterWithTwoDialects", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters:
      - {exact: {type: a}, prefix: {subject: b}}
)",
     "8:9: error: triggers.orders.filters[0]: a filter has one dialect; list several filters (all "
     "must match) or nest them under all or any"},
    {"FilterWithNoDialect", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters:
      - {}
)",
     "8:9: error: triggers.orders.filters[0]: must set one of: exact, prefix, suffix, all, any, "
     "not, data"},
    {"FiltersNotAList", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters: {exact: {type: a}}
)",
     "7:14: error: triggers.orders.filters: must be a list of filters, e.g. [{exact: {type: "
     "com.example.created}}]"},
    {"FilterNotAMapping", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters:
      - exact
)",
     "8:9: error: triggers.orders.filters[0]: must be a filter: a mapping with one of: exact, "
     "prefix, suffix, all, any, not, data"},
    {"FilterAttributeNameNotLowerCase", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters:
      - exact: {Type: a}
)",
     "8:17: error: triggers.orders.filters[0].exact.Type: attribute name \"Type\" must be "
     "lower-case letters and digits (CloudEvents), e.g. type, subject"},
    {"FilterOnTriggerAttribute", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters:
      - exact: {trigger: orders}
)",
     "8:17: error: triggers.orders.filters[0].exact.trigger: \"trigger\" is set by triggerd on "
     "delivery; events have no such attribute when they are filtered"},
    {"FilterEmptyValue", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters:
      - prefix: {subject: ""}
)",
     "8:27: error: triggers.orders.filters[0].prefix.subject: must be a non-empty string"},
    {"FilterValueNotAString", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters:
      - suffix: {source: [a]}
)",
     "8:26: error: triggers.orders.filters[0].suffix.source: must be a non-empty string"},
    {"FilterWithoutAttributes", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters:
      - exact: {}
)",
     "8:16: error: triggers.orders.filters[0].exact: must name at least one attribute"},
    {"FilterEmptyAll", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters:
      - all: []
)",
     "8:14: error: triggers.orders.filters[0].all: must be a non-empty list of filters"},
    {"FilterAnyNotAList", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters:
      - any: {exact: {type: a}}
)",
     "8:14: error: triggers.orders.filters[0].any: must be a non-empty list of filters"},
    {"FilterNotOfAList", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters:
      - not: [{exact: {type: a}}]
)",
     "8:14: error: triggers.orders.filters[0].not: must be a filter: a mapping with one of: "
     "exact, prefix, suffix, all, any, not, data"},
    {"FilterMistakeDeepInside", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters:
      - exact: {type: a}
      - any: [{exact: {type: a}}, {prefx: {subject: b}}]
)",
     "9:36: error: triggers.orders.filters[1].any[1].prefx: unknown key \"prefx\" (did you "
     "mean \"prefix\"?)"},
    {"FilterDataEmpty", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters:
      - data: {}
)",
     "8:15: error: triggers.orders.filters[0].data: must be a mapping of JSON paths to "
     "conditions, e.g. {amount: {numeric: [\">=\", 100]}}"},
    {"FilterDataBadPath", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters:
      - data: {a..b: 1}
)",
     "8:16: error: triggers.orders.filters[0].data.a..b: JSON path \"a..b\" must be object keys "
     "separated by dots, e.g. customer.id"},
    {"FilterDataNumericBadOperator", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters:
      - data: {amount: {numeric: ["=>", 100]}}
)",
     "8:35: error: triggers.orders.filters[0].data.amount.numeric[0]: must be one of: <, <=, =, "
     ">, >=, got \"=>\""},
    {"FilterDataNumericNotInPairs", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters:
      - data: {amount: {numeric: [">=", 1, "<"]}}
)",
     "8:34: error: triggers.orders.filters[0].data.amount.numeric: must be pairs of an operator "
     "and a number, e.g. [\">=\", 0, \"<\", 100]"},
    {"FilterDataNumericOfAString", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters:
      - data: {amount: {numeric: [">=", "100"]}}
)",
     "8:41: error: triggers.orders.filters[0].data.amount.numeric[1]: must be a number"},
    {"FilterDataTwoOperators", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters:
      - data: {status: {prefix: a, exists: true}}
)",
     "8:24: error: triggers.orders.filters[0].data.status: set one of prefix, numeric, exists and "
     "anything-but, not several"},
    {"FilterDataUnknownOperator", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters:
      - data: {status: {prefx: a}}
)",
     "8:25: error: triggers.orders.filters[0].data.status.prefx: unknown key \"prefx\" (did you "
     "mean \"prefix\"?)"},
    {"FilterDataExistsNotABoolean", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters:
      - data: {status: {exists: yes}}
)",
     "8:33: error: triggers.orders.filters[0].data.status.exists: must be true or false, got "
     "\"yes\""},
    {"FilterDataNull", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters:
      - data: {status: ~}
)",
     "8:16: error: triggers.orders.filters[0].data.status: must be a string, a number, true or "
     "false, not null (a path that leads nowhere, or to null, is matched by {exists: false})"},
    {"FilterDataEmptyList", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters:
      - data: {region: []}
)",
     "8:24: error: triggers.orders.filters[0].data.region: must list at least one value"},
    {"FilterDataListOfMappings", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters:
      - data: {region: [{a: 1}]}
)",
     "8:25: error: triggers.orders.filters[0].data.region[0]: must be a string, a number, true or "
     "false"},
    {"FilterDataAnythingButNothing", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters:
      - data: {region: {anything-but: []}}
)",
     "8:39: error: triggers.orders.filters[0].data.region.anything-but: must list at least one "
     "value"},
    {"BatchMaxEventsZero", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    delivery:
      batch: {max_events: 0}
)",
     "8:27: error: triggers.orders.delivery.batch.max_events: must be an integer from 1 to 10000"},
    {"BatchMaxEventsOverTheLimit", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    delivery:
      max_inflight: 20000
      batch: {max_events: 10001}
)",
     "9:27: error: triggers.orders.delivery.batch.max_events: must be an integer from 1 to 10000"},
    {"BatchMaxWaitZero", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    delivery:
      batch: {max_wait: 0s}
)",
     "8:25: error: triggers.orders.delivery.batch.max_wait: must be at least 1ms"},
    {"BatchMaxBytesUnderOneKiB", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    delivery:
      batch: {max_bytes: 512B}
)",
     "8:26: error: triggers.orders.delivery.batch.max_bytes: must be at least 1KiB"},
    {"BatchMaxBytesWithoutUnit", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    delivery:
      batch: {max_bytes: lots}
)",
     "8:26: error: triggers.orders.delivery.batch.max_bytes: must be a size with a unit, e.g. "
     "512KiB, 1MiB, got \"lots\""},
    {"BatchUnknownKey", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    delivery:
      batch: {max_event: 10}
)",
     "8:15: error: triggers.orders.delivery.batch.max_event: unknown key \"max_event\" (did you "
     "mean \"max_events\"?)"},
    {"BatchCouldNeverFill", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    delivery:
      max_inflight: 50
      batch: {max_events: 100}
)",
     "8:21: error: triggers.orders.delivery.max_inflight: max_inflight (50) must be at least "
     "batch.max_events (100): a batch could never fill"},
    {"BatchOverTheDefaultMaxInflight", R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    delivery:
      batch: {max_events: 500}
)",
     "8:27: error: triggers.orders.delivery.batch.max_events: max_inflight (100) must be at "
     "least batch.max_events (500): a batch could never fill"},
    {"InvalidYaml", R"(functions: {}
triggers: [a, b
)",
     "3:1: error: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence "
     "that starts at line 2, column 11)"},
};

class ConfigMistake : public testing::TestWithParam<MistakeCase> {};

TEST_P(ConfigMistake, IsReportedWithLineColumnPathAndMessage) {
  const MistakeCase& c = GetParam();
  LoadResult result = load_string(c.yaml, "t.yaml", &connector_check());
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(errors_of(result), std::vector<std::string>{std::string("t.yaml:") + c.expected});
}

INSTANTIATE_TEST_SUITE_P(Table, ConfigMistake, testing::ValuesIn(kMistakes),
                         [](const testing::TestParamInfo<MistakeCase>& param_info) {
                           return std::string(param_info.param.name);
                         });

TEST(ConfigLoader, StandardWebhooksTakesOneSecretOrSeveralAndKeepsTheDecodedKeys) {
  for (const char* auth :
       {"{secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, tolerance: 2m}",
        "{secrets: [whsec_c2Vjb25k, MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw], tolerance: 2m}"}) {
    SCOPED_TRACE(auth);
    LoadResult result = load_string(std::string(R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  hook:
    function: fn
    source: {type: http, path: /h, auth: {standard_webhooks: )") + auth + "}}\n",
                                    "t.yaml", &connector_check());
    ASSERT_TRUE(result.ok()) << testing::PrintToString(errors_of(result));
    const auto& http = std::get<HttpSource>(result.config->triggers[0].source);
    const auto& standard = std::get<StandardWebhooksAuth>(*http.auth);
    ASSERT_FALSE(standard.keys.empty());
    EXPECT_EQ(standard.keys.back().reveal(), *base64_decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    EXPECT_EQ(standard.tolerance, std::chrono::minutes(2));
  }
}

TEST(ConfigLoader, HttpsUrlsDefaultToPort443AndTakeTheirTlsSettings) {
  LoadResult result = load_string(R"(functions:
  hosted:
    url: https://fn.example/run?v=2
    tls: {server_name: run.fn.example, insecure_skip_verify: true}
  internal: {url: "https://10.0.0.7:8443/"}
triggers: {}
)",
                                  "t.yaml");
  ASSERT_TRUE(result.ok()) << testing::PrintToString(errors_of(result));
  const Function& hosted = result.config->functions[0];
  EXPECT_TRUE(hosted.url.https);
  EXPECT_EQ(hosted.url.host, "fn.example");
  EXPECT_EQ(hosted.url.port, 443);
  EXPECT_EQ(hosted.url.target, "/run?v=2");
  EXPECT_EQ(hosted.tls.server_name, "run.fn.example");
  EXPECT_TRUE(hosted.tls.insecure_skip_verify);
  const Function& internal = result.config->functions[1];
  EXPECT_TRUE(internal.url.https);
  EXPECT_EQ(internal.url.port, 8443);
  EXPECT_EQ(internal.tls, TlsClientSettings{}) << "the system store, the url's host";
}

TEST(ConfigLoader, ReportsEveryMistakeInFileOrder) {
  LoadResult result = load_string(R"(functions:
  fn:
    url: nope
    timeout: 3
triggers:
  orders:
    function: ghost
    source: {type: http, path: no-slash}
    delivery: {retries: -2}
)",
                                  "many.yaml", &connector_check());
  auto errors = errors_of(result);
  ASSERT_EQ(errors.size(), 5u) << testing::PrintToString(errors);
  EXPECT_TRUE(errors[0].starts_with("many.yaml:3:10: error: functions.fn.url:"));
  EXPECT_TRUE(errors[1].starts_with("many.yaml:4:14: error: functions.fn.timeout:"));
  EXPECT_TRUE(errors[2].starts_with("many.yaml:7:15: error: triggers.orders.function:"));
  EXPECT_TRUE(errors[3].starts_with("many.yaml:8:32: error: triggers.orders.source.path:"));
  EXPECT_TRUE(errors[4].starts_with("many.yaml:9:25: error: triggers.orders.delivery.retries:"));
}

TEST(ConfigLoader, WarnsAboutTriggersWithoutDeadLetter) {
  LoadResult result = load_string(R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
)",
                                  "t.yaml", &connector_check());
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result.diagnostics.size(), 1u);
  EXPECT_EQ(result.diagnostics[0].to_string(),
            "t.yaml:4:3: warning: triggers.orders: no delivery.dead_letter: events that fail for "
            "good are dropped (counted in triggerd_events_dropped_total)");
}

// What one event may take at most: (retries + 1) attempts of the function's timeout, plus the
// backoff ceiling before each retry.
TEST(ConfigLoader, WarnsWhenClaimIdleIsShorterThanOneEventCanTake) {
  LoadResult result = load_string(R"(connections:
  r: {type: redis}
functions:
  fn: {url: "http://127.0.0.1:9000/", timeout: 2s}
triggers:
  defaults:
    function: fn
    source: {type: redis-stream, connection: r, stream: a}
    delivery:
      retries: 30
      dead_letter: {type: redis-list, connection: r, list: dlq}
  linear:
    function: fn
    source: {type: redis-stream, connection: r, stream: b, claim_idle: 10s}
    delivery:
      retries: 3
      backoff: {policy: linear, delay: 1s, max: 2500ms}
      dead_letter: {type: redis-list, connection: r, list: dlq}
  constant:
    function: fn
    source: {type: redis-stream, connection: r, stream: c, claim_idle: 11s}
    delivery:
      retries: 3
      backoff: {policy: constant, delay: 1s}
      dead_letter: {type: redis-list, connection: r, list: dlq}
  list:
    function: fn
    source: {type: redis-list, connection: r, list: d}
    delivery:
      retries: 100
      dead_letter: {type: redis-list, connection: r, list: dlq}
)",
                                  "t.yaml", &connector_check());
  ASSERT_TRUE(result.ok()) << testing::PrintToString(errors_of(result));
  std::vector<std::string> warnings;
  for (const auto& d : result.diagnostics) warnings.push_back(d.to_string());
  // defaults: 31 x 2s, and 200ms doubling to the 30s cap: 62s + 51s + 22 x 30s = 12m53s, but
  // claim_idle is not set in the file: no warning. linear: 4 x 2s + 1s + 2s + 2.5s = 13.5s > 10s. constant: 4 x 2s + 3 x 1s = 11s, not above.
  const std::string tail =
      "plus the backoff between them): should this replica lose Redis for claim_idle while it "
      "delivers, another replica claims its entries and delivers them again";
  EXPECT_EQ(warnings,
            (std::vector<std::string>{
                "t.yaml:14:72: warning: triggers.linear.source.claim_idle: claim_idle (10s) is "
                "shorter than the longest time one event can take (13s500ms: 4 attempts of up "
                "to 2s " +
                    tail}));
}

TEST(ConfigLoader, ErrorsNeverShowSecretValues) {
  setenv("TRIGGERD_TEST_SECRET", "hunter2-very-secret", 1);
  LoadResult result = load_string(R"(connections:
  cache:
    type: redis
    password: ${TRIGGERD_TEST_SECRET}
    db: [x]
  bus:
    type: kafka
    brokers: 127.0.0.1:9092
    options:
      sasl.password:
        nested: ${TRIGGERD_TEST_SECRET}
functions:
  fn:
    url: http://127.0.0.1:9000/
    headers:
      Authorization:
        - Bearer
        - ${TRIGGERD_TEST_SECRET}
triggers: {}
)",
                                  "t.yaml", &connector_check());
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.diagnostics.size(), 3u) << testing::PrintToString(errors_of(result));
  for (const auto& d : result.diagnostics) {
    EXPECT_EQ(d.to_string().find("hunter2"), std::string::npos) << d.to_string();
  }
}

// The full example of docs/configuration.md, loaded into the structs it describes.
TEST(ConfigLoader, LoadsTheFullExampleIntoTypedStructs) {
  setenv("TRIGGERD_TEST_KAFKA_USER", "svc", 1);
  setenv("TRIGGERD_TEST_KAFKA_PASSWORD", "kafka-pass", 1);
  setenv("TRIGGERD_TEST_RESIZE_TOKEN", "tok", 1);
  char secret_path[] = "/tmp/triggerd-secret-XXXXXX";
  int fd = mkstemp(secret_path);
  ASSERT_GE(fd, 0);
  close(fd);
  std::ofstream(secret_path) << "redis-pass\n";
  std::string yaml = R"(server:
  listen: 0.0.0.0:8080
  admin_listen: 127.0.0.1:9191
  scaler_listen: 0.0.0.0:9091
  max_body_size: 512KiB
  shutdown_timeout: 1m30s
  watch_config: false
  admin_auth: {bearer: {token: admin-tok}}
log: {level: debug, format: json}
connections:
  main-kafka:
    type: kafka
    brokers: 127.0.0.1:9092, 127.0.0.2:9093
    options:
      security.protocol: sasl_ssl
      sasl.username: ${TRIGGERD_TEST_KAFKA_USER}
      sasl.password: ${TRIGGERD_TEST_KAFKA_PASSWORD}
  main-redis:
    type: redis
    address: 127.0.0.1:6380
    username: default
    password_file: )" + std::string(secret_path) + R"(
    db: 2
functions:
  resize-image:
    url: http://127.0.0.1:9000/resize?x=1
    timeout: 10s
    max_concurrency: 64
    headers:
      Authorization: Bearer ${TRIGGERD_TEST_RESIZE_TOKEN}
triggers:
  orders:
    function: resize-image
    source:
      type: kafka
      connection: main-kafka
      topics: [orders, returns]
      start: latest
    delivery:
      retries: 3
      backoff: {policy: linear, delay: 100ms, max: 2s}
      max_inflight: 50
      ordering: key
      dead_letter: {type: redis-stream, connection: main-redis, stream: orders-dlq, retry_for: 90s}
    scaling: {target_per_replica: 20, activation: 5, min_replicas: 1, max_replicas: 7}
  resize:
    function: resize-image
    source: {type: http, path: /resize}
    scaling:
      mode: demand
      drain_within: 1m
      concurrency_per_replica: 4
      activation_timeout: 45s
    delivery:
      dead_letter: {type: http, url: "http://127.0.0.1:9000/dead"}
  jobs:
    function: resize-image
    source: {type: redis-stream, connection: main-redis, stream: jobs, consumer: c1, start: "0", claim_idle: 90s, count: 10}
    delivery:
      dead_letter: {type: kafka, connection: main-kafka, topic: jobs-dlq}
  queue:
    function: resize-image
    source: {type: redis-list, connection: main-redis, list: work, consumer: worker-1}
    delivery:
      dead_letter: {type: http, url: "http://127.0.0.1:9999/dlq"}
  hook:
    function: resize-image
    source:
      type: http
      path: /hooks/github
      methods: [post, put]
      auth: {hmac_sha256: {secret: s3cret}}
    delivery:
      dead_letter: {type: redis-list, connection: main-redis, list: hook-dlq}
  nightly:
    function: resize-image
    source:
      type: cron
      schedule: "30 2 * * *"
      timezone: Europe/Berlin
      data: {report: daily, count: 3, ratio: 0.5, on: true, none: ~, quoted: "42"}
      lock: main-redis
    delivery:
      dead_letter: {type: http, url: "http://127.0.0.1:9999/dlq"}
)";
  LoadResult result = load_string(yaml, "full.yaml", &connector_check());
  std::remove(secret_path);
  ASSERT_TRUE(result.ok()) << testing::PrintToString(errors_of(result));
  EXPECT_TRUE(result.diagnostics.empty());
  const Config& c = *result.config;

  EXPECT_EQ(c.server.listen, (HostPort{"0.0.0.0", 8080}));
  EXPECT_EQ(c.server.admin_listen, (HostPort{"127.0.0.1", 9191}));
  EXPECT_EQ(c.server.scaler_listen, (HostPort{"0.0.0.0", 9091}));
  EXPECT_EQ(c.server.max_body_size, 512u * 1024);
  EXPECT_EQ(c.server.shutdown_timeout, Duration(90'000));
  EXPECT_FALSE(c.server.watch_config);
  ASSERT_TRUE(c.server.admin_auth.has_value());
  EXPECT_EQ(c.server.admin_auth->token.reveal(), "admin-tok");
  EXPECT_EQ(c.log.level, LogLevel::debug);
  EXPECT_EQ(c.log.format, LogFormat::json);

  ASSERT_EQ(c.connections.size(), 2u);
  const auto& kafka = std::get<KafkaConnection>(c.find_connection("main-kafka")->spec);
  EXPECT_EQ(kafka.brokers, (std::vector<std::string>{"127.0.0.1:9092", "127.0.0.2:9093"}));
  ASSERT_EQ(kafka.options.size(), 3u);
  EXPECT_EQ(kafka.options[2].first, "sasl.password");
  EXPECT_EQ(kafka.options[2].second.reveal(), "kafka-pass");
  const auto& redis = std::get<RedisConnection>(c.find_connection("main-redis")->spec);
  EXPECT_EQ(redis.address, (HostPort{"127.0.0.1", 6380}));
  EXPECT_EQ(redis.username, "default");
  EXPECT_EQ(redis.password.reveal(), "redis-pass");
  EXPECT_EQ(redis.db, 2);

  const Function& fn = *c.find_function("resize-image");
  EXPECT_EQ(fn.url.host, "127.0.0.1");
  EXPECT_EQ(fn.url.port, 9000);
  EXPECT_EQ(fn.url.target, "/resize?x=1");
  EXPECT_EQ(fn.timeout, Duration(10'000));
  EXPECT_EQ(fn.max_concurrency, 64);
  ASSERT_EQ(fn.headers.size(), 1u);
  EXPECT_EQ(fn.headers[0].second.reveal(), "Bearer tok");

  ASSERT_EQ(c.triggers.size(), 6u);
  const Trigger& orders = *c.find_trigger("orders");
  const auto& ks = std::get<KafkaSource>(orders.source);
  EXPECT_EQ(ks.topics, (std::vector<std::string>{"orders", "returns"}));
  EXPECT_EQ(ks.group, "triggerd-orders");
  EXPECT_EQ(ks.start, KafkaStart::latest);
  EXPECT_EQ(orders.delivery.retries, 3);
  EXPECT_EQ(orders.delivery.backoff.policy, BackoffPolicy::linear);
  EXPECT_EQ(orders.delivery.backoff.delay, Duration(100));
  EXPECT_EQ(orders.delivery.backoff.max, Duration(2000));
  EXPECT_EQ(orders.delivery.max_inflight, 50);
  EXPECT_EQ(orders.delivery.ordering, Ordering::key);
  const auto& dl = std::get<RedisStreamDeadLetter>(*orders.delivery.dead_letter);
  EXPECT_EQ(dl.stream, "orders-dlq");
  EXPECT_EQ(orders.delivery.dead_letter_retry_for, Duration(90'000));
  EXPECT_EQ(c.find_trigger("queue")->delivery.dead_letter_retry_for, Duration(300'000));  // default
  EXPECT_EQ(orders.scaling.target_per_replica, 20);
  EXPECT_EQ(orders.scaling.activation, 5);
  EXPECT_EQ(orders.scaling.min_replicas, 1);
  EXPECT_EQ(orders.scaling.max_replicas, 7);
  EXPECT_EQ(orders.scaling.mode, ScalingMode::kBacklog);
  const Trigger& resize = *c.find_trigger("resize");
  EXPECT_EQ(resize.scaling.mode, ScalingMode::kDemand);
  EXPECT_EQ(resize.scaling.drain_within, Duration(60'000));
  EXPECT_EQ(resize.scaling.concurrency_per_replica, 4);
  EXPECT_EQ(resize.scaling.activation_timeout, Duration(45'000));

  const auto& rs = std::get<RedisStreamSource>(c.find_trigger("jobs")->source);
  EXPECT_EQ(rs.group, "triggerd");
  EXPECT_EQ(rs.consumer, "c1");
  EXPECT_EQ(rs.start, "0");
  EXPECT_EQ(rs.claim_idle, Duration(90'000));
  EXPECT_EQ(rs.count, 10);
  EXPECT_EQ(c.find_trigger("jobs")->delivery.retries, 5);  // default
  EXPECT_EQ(std::get<KafkaDeadLetter>(*c.find_trigger("jobs")->delivery.dead_letter).topic, "jobs-dlq");

  EXPECT_EQ(std::get<RedisListSource>(c.find_trigger("queue")->source).list, "work");
  EXPECT_EQ(std::get<RedisListSource>(c.find_trigger("queue")->source).consumer, "worker-1");
  EXPECT_EQ(std::get<HttpDeadLetter>(*c.find_trigger("queue")->delivery.dead_letter).url.port, 9999);

  const auto& hs = std::get<HttpSource>(c.find_trigger("hook")->source);
  EXPECT_EQ(hs.path, "/hooks/github");
  EXPECT_EQ(hs.methods, (std::vector<std::string>{"POST", "PUT"}));
  const auto& hmac = std::get<HmacSha256Auth>(*hs.auth);
  EXPECT_EQ(hmac.secret.reveal(), "s3cret");
  EXPECT_EQ(hmac.header, "X-Hub-Signature-256");

  const auto& cs = std::get<CronSource>(c.find_trigger("nightly")->source);
  EXPECT_EQ(cs.schedule, "30 2 * * *");
  EXPECT_EQ(cs.timezone, "Europe/Berlin");
  EXPECT_EQ(cs.data_json,
            R"({"report":"daily","count":3,"ratio":5E-1,"on":true,"none":null,"quoted":"42"})");
  EXPECT_EQ(cs.lock, "main-redis");
}

TEST(ConfigLoader, AppliesDocumentedDefaults) {
  LoadResult result = load_string(R"(functions:
  fn: {url: "http://fn.default.svc"}
triggers:
  t:
    function: fn
    source: {type: cron, schedule: "@every 10s"}
)",
                                  "t.yaml", &connector_check());
  ASSERT_TRUE(result.ok());
  const Config& c = *result.config;
  EXPECT_EQ(c.server.listen, (HostPort{"0.0.0.0", 8080}));
  EXPECT_EQ(c.server.admin_listen, (HostPort{"0.0.0.0", 9090}));
  EXPECT_EQ(c.server.max_body_size, 1024u * 1024);
  EXPECT_EQ(c.functions[0].url.port, 80);
  EXPECT_EQ(c.functions[0].url.target, "/");
  EXPECT_EQ(c.functions[0].timeout, Duration(30'000));
  EXPECT_EQ(c.functions[0].max_concurrency, 100);
  const Trigger& t = c.triggers[0];
  EXPECT_EQ(t.delivery.retries, 5);
  EXPECT_EQ(t.delivery.backoff.policy, BackoffPolicy::exponential);
  EXPECT_EQ(t.delivery.max_inflight, 100);
  EXPECT_EQ(std::get<CronSource>(t.source).timezone, "UTC");
  EXPECT_EQ(std::get<CronSource>(t.source).data_json, "{}");
  EXPECT_EQ(t.scaling.target_per_replica, 10);
  EXPECT_EQ(t.scaling.max_replicas, 100);
  EXPECT_EQ(t.scaling.mode, ScalingMode::kBacklog);
  EXPECT_EQ(t.scaling.drain_within, Duration(30'000));
  EXPECT_EQ(t.scaling.concurrency_per_replica, 10);
  EXPECT_EQ(t.scaling.activation_timeout, Duration(120'000));
  EXPECT_EQ(c.server.scaler_listen, std::nullopt);
  EXPECT_TRUE(c.server.watch_config);
  EXPECT_EQ(t.delivery.batch, std::nullopt) << "one event per request";
  EXPECT_TRUE(t.filters.empty()) << "every event passes";
}

TEST(ConfigLoader, ReadsFiltersOfEveryDialect) {
  LoadResult result = load_string(R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters:
      - exact: {type: com.example.order.created, priority: high}
      - prefix: {subject: "eu/"}
      - suffix: {source: /orders}
      - any:
          - exact: {version: 2}
          - not: {prefix: {subject: "test/"}}
      - all: [{exact: {id: x}}]
      - data:
          amount: {numeric: [">=", 100, "<", 1e3]}
          status: {anything-but: [cancelled, 0]}
          kind: {anything-but: refund}
          customer.id: {exists: true}
          region: [eu-west, eu-central]
          vip: true
          code: "42"
          name: {prefix: "Dr. "}
          attachment_file: {exists: false}
  unfiltered:
    function: fn
    source: {type: cron, schedule: "@every 10s"}
    filters: []
  also-unfiltered:
    function: fn
    source: {type: cron, schedule: "@every 10s"}
    filters:
)",
                                  "t.yaml", &connector_check());
  ASSERT_TRUE(result.ok()) << testing::PrintToString(errors_of(result));
  using Dialect = Filter::Dialect;
  using Kind = DataCondition::Kind;
  const std::vector<Filter> expected{
      {.dialect = Dialect::exact,
       .attributes = {{"type", "com.example.order.created"}, {"priority", "high"}}},
      {.dialect = Dialect::prefix, .attributes = {{"subject", "eu/"}}},
      {.dialect = Dialect::suffix, .attributes = {{"source", "/orders"}}},
      {.dialect = Dialect::any,
       .filters = {{.dialect = Dialect::exact, .attributes = {{"version", "2"}}},
                   {.dialect = Dialect::negation,
                    .filters = {{.dialect = Dialect::prefix,
                                 .attributes = {{"subject", "test/"}}}}}}},
      {.dialect = Dialect::all, .filters = {{.dialect = Dialect::exact, .attributes = {{"id", "x"}}}}},
      {.dialect = Dialect::data,
       .data = {{.path = "amount",
                 .kind = Kind::numeric,
                 .numeric = {{NumericOp::greater_equal, 100}, {NumericOp::less, 1000}}},
                {.path = "status", .kind = Kind::anything_but, .values = {"cancelled", 0.0}},
                {.path = "kind", .kind = Kind::anything_but, .values = {"refund"}},
                {.path = "customer.id", .kind = Kind::exists, .exists = true},
                {.path = "region", .values = {"eu-west", "eu-central"}},
                {.path = "vip", .values = {true}},
                {.path = "code", .values = {"42"}},
                {.path = "name", .kind = Kind::prefix, .prefix = "Dr. "},
                // A path, not a KEY_file reference.
                {.path = "attachment_file", .kind = Kind::exists, .exists = false}}},
  };
  const Config& c = *result.config;
  EXPECT_TRUE(c.triggers[0].filters == expected);
  ASSERT_EQ(c.triggers[0].filters.size(), expected.size());
  EXPECT_TRUE(c.triggers[0].filters[5].data == expected[5].data);
  EXPECT_TRUE(c.triggers[1].filters.empty());
  EXPECT_TRUE(c.triggers[2].filters.empty());
}

TEST(ConfigLoader, ReportsEveryFilterMistakeNotOnlyTheFirst) {
  LoadResult result = load_string(R"(functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  orders:
    function: fn
    source: {type: http, path: /a}
    filters:
      - exact: {Type: a}
      - all: [{not: {exact: {}}}, {data: {n: {numeric: [">", x]}}}]
)",
                                  "t.yaml", &connector_check());
  EXPECT_EQ(errors_of(result),
            (std::vector<std::string>{
                "t.yaml:8:17: error: triggers.orders.filters[0].exact.Type: attribute name "
                "\"Type\" must be lower-case letters and digits (CloudEvents), e.g. type, subject",
                "t.yaml:9:29: error: triggers.orders.filters[1].all[0].not.exact: must name at "
                "least one attribute",
                "t.yaml:9:62: error: triggers.orders.filters[1].all[1].data.n.numeric[1]: must "
                "be a number"}));
}

TEST(ConfigLoader, ReadsDeliveryBatchWithItsDefaultsOnEverySource) {
  LoadResult result = load_string(R"(connections:
  r: {type: redis}
functions:
  fn: {url: "http://127.0.0.1:9000/"}
triggers:
  hook:
    function: fn
    source: {type: http, path: /a}
    delivery:
      batch: {max_events: 10, max_wait: 1s, max_bytes: 64KiB}
  tick:
    function: fn
    source: {type: cron, schedule: "@every 10s"}
    delivery:
      batch: {}
  stream:
    function: fn
    source: {type: redis-stream, connection: r, stream: s}
    delivery:
      max_inflight: 1000
      batch:
        max_events: 1000
  plain:
    function: fn
    source: {type: http, path: /b}
)",
                                  "t.yaml", &connector_check());
  ASSERT_TRUE(result.ok()) << testing::PrintToString(errors_of(result));
  const Config& c = *result.config;
  ASSERT_TRUE(c.triggers[0].delivery.batch);
  EXPECT_EQ(c.triggers[0].delivery.batch->max_events, 10);
  EXPECT_EQ(c.triggers[0].delivery.batch->max_wait, Duration(1000));
  EXPECT_EQ(c.triggers[0].delivery.batch->max_bytes, 64u * 1024);
  ASSERT_TRUE(c.triggers[1].delivery.batch);
  EXPECT_EQ(*c.triggers[1].delivery.batch, Delivery::Batch{})
      << "defaults: 100 events, 100ms, 1MiB";
  EXPECT_EQ(c.triggers[1].delivery.batch->max_events, 100);
  EXPECT_EQ(c.triggers[1].delivery.batch->max_wait, Duration(100));
  EXPECT_EQ(c.triggers[1].delivery.batch->max_bytes, 1024u * 1024);
  ASSERT_TRUE(c.triggers[2].delivery.batch);
  EXPECT_EQ(c.triggers[2].delivery.batch->max_events, 1000);
  EXPECT_EQ(c.triggers[3].delivery.batch, std::nullopt);
}

TEST(ConfigLoader, EnvironmentDefaultsAndLiteralDollarBraces) {
  unsetenv("TRIGGERD_TEST_UNSET_PORT");
  LoadResult result = load_string(R"(functions:
  fn:
    url: http://127.0.0.1:${TRIGGERD_TEST_UNSET_PORT:-9000}/
    headers:
      X-Template: "$${not-a-var}"
triggers: {}
)",
                                  "t.yaml", &connector_check());
  ASSERT_TRUE(result.ok()) << testing::PrintToString(errors_of(result));
  EXPECT_EQ(result.config->functions[0].url.port, 9000);
  EXPECT_EQ(result.config->functions[0].headers[0].second.reveal(), "${not-a-var}");
}

TEST(ConfigLoader, MissingFileIsAnError) {
  LoadResult result = load_file("/nonexistent/triggerd.yaml", &connector_check());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(errors_of(result),
            std::vector<std::string>{
                "/nonexistent/triggerd.yaml:1:1: error: cannot read the file: No such file or "
                "directory"});
}

TEST(ConfigLoader, ShippedExamplesAreValid) {
  const char* source_dir = std::getenv("TRIGGERD_SOURCE_DIR");
  ASSERT_NE(source_dir, nullptr);
  for (const char* example : {"/examples/triggerd.yaml"}) {
    LoadResult result = load_file(std::string(source_dir) + example, &connector_check());
    EXPECT_TRUE(result.ok()) << example << ": " << testing::PrintToString(errors_of(result));
  }
}

}  // namespace
}  // namespace triggerd::config
