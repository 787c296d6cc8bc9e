// No secret ever shows: a distinct secret is planted in every field that holds one (a Redis
// password, a Kafka SASL password, a webhook's bearer token, HMAC secret and Standard Webhooks
// secret, a function's header value, the admin token), and the real binary, logging at trace,
// is driven through the paths that log or answer: start-up, failed connections and logins,
// refused webhooks, failed deliveries and a refused dead letter, the admin API, a reload with a
// changed secret, and a reload that is refused. Then no log line, error, metric or admin answer
// may contain any of them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <string>
#include <vector>

#include "tests/function_stub/function_stub.hpp"
#include "tests/integration/end_to_end.hpp"
#include "tests/support/redis_server.hpp"

namespace triggerd::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Each distinct, so that a leak names its field.
const std::vector<std::string> kSecrets = {
    "redis-pw-7Qk2",      "sasl-pw-9Zx4",   "bearer-tok-3Lm8", "hmac-key-5Rt1",
    "fn-header-val-2Wq6", "admin-tok-8Pn3", "admin-tok-next-4Ys5",
};
// A Standard Webhooks secret, and its key as the base64 that a leak would show.
const std::string kWhsec = "whsec_c3RhbmRhcmQtd2ViaG9vay1rZXktNnZi";
const std::string kWhsecKey = "standard-webhook-key-6vb";

std::string config_text(const RedisServer& redis, const FunctionStub& function,
                        const std::string& admin_token) {
  return "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  shutdown_timeout: 2s\n"
         "  admin_auth: {bearer: {token: " + admin_token + "}}\n"
         "log: {level: trace}\n"
         "connections:\n"
         // redis-server without requirepass refuses AUTH with a password: a failed login.
         "  cache:\n    type: redis\n    address: 127.0.0.1:" + std::to_string(redis.port()) +
         "\n    password: redis-pw-7Qk2\n"
         // Nobody listens there: connection failures, retried.
         "  events:\n    type: kafka\n    brokers: 127.0.0.1:9\n    options:\n"
         "      security.protocol: sasl_plaintext\n      sasl.mechanisms: PLAIN\n"
         "      sasl.username: triggerd\n      sasl.password: sasl-pw-9Zx4\n"
         "functions:\n  fn:\n    url: " + function.url("/fn") +
         "\n    headers: {Authorization: \"Bearer fn-header-val-2Wq6\"}\n"
         "triggers:\n"
         "  bearer-hook:\n    function: fn\n"
         "    source: {type: http, path: /b, auth: {bearer: {token: bearer-tok-3Lm8}}}\n"
         "    delivery: {retries: 1, backoff: {delay: 10ms, max: 10ms},\n"
         "               dead_letter: {type: http, url: \"" + function.url("/dead") +
         "\", retry_for: 0s}}\n"
         "  hmac-hook:\n    function: fn\n"
         "    source: {type: http, path: /h, auth: {hmac_sha256: {secret: hmac-key-5Rt1}}}\n"
         "  standard-hook:\n    function: fn\n"
         "    source: {type: http, path: /s, auth: {standard_webhooks: {secrets: [" + kWhsec +
         "]}}}\n"
         "  cache-list:\n    function: fn\n"
         "    source: {type: redis-list, connection: cache, list: jobs}\n"
         "  orders:\n    function: fn\n"
         "    source: {type: kafka, connection: events, topic: orders, group: g}\n";
}

void expect_no_secret(const std::string& where, const std::string& text) {
  for (const std::string& secret : kSecrets) {
    EXPECT_THAT(text, Not(HasSubstr(secret))) << where << " shows " << secret;
  }
  EXPECT_THAT(text, Not(HasSubstr(kWhsec.substr(6)))) << where << " shows the whsec secret";
  EXPECT_THAT(text, Not(HasSubstr(kWhsecKey))) << where << " shows the whsec key";
}

TEST(SecretLeak, NoLogLineErrorMetricOrAdminAnswerShowsAnySecret) {
  RedisServer redis;
  FunctionStub function;
  function.always(500);  // every attempt fails; the dead letter (same stub) refuses with 500
  TempFile config(config_text(redis, function, "admin-tok-8Pn3"));
  TriggerdProcess triggerd(config.path());
  const std::uint16_t webhook = triggerd.webhook_port();
  const std::uint16_t admin = triggerd.admin_port();
  const HttpHeaders admin_auth = {{"Authorization", "Bearer admin-tok-8Pn3"}};

  // Refused webhooks: no token, a wrong one, a wrong signature, a Standard Webhooks request
  // without its headers.
  EXPECT_EQ(http_request("POST", webhook, "/b", "x").status, 401);
  EXPECT_EQ(http_request("POST", webhook, "/b", "x", {{"Authorization", "Bearer nope"}}).status,
            401);
  EXPECT_EQ(
      http_request("POST", webhook, "/h", "x", {{"X-Hub-Signature-256", "sha256=00"}}).status,
      401);
  EXPECT_EQ(http_request("POST", webhook, "/s", "x").status, 401);
  // An accepted one, whose delivery fails, is retried and goes to a dead letter that fails too.
  EXPECT_EQ(http_request("POST", webhook, "/b", "doomed",
                         {{"Authorization", "Bearer bearer-tok-3Lm8"}})
                .status,
            202);
  ASSERT_TRUE(wait_until([&] { return function.request_count() >= 3; }, kEventually));

  std::string answers;
  for (const char* route : {"/metrics", "/v1/triggers", "/v1/triggers/orders", "/v1/config",
                            "/readyz", "/livez"}) {
    answers += http_request("GET", admin, route, "", admin_auth).body;
    answers += http_get(admin, route).body;  // refused without the token
  }
  EXPECT_EQ(http_request("GET", admin, "/metrics", "", {{"Authorization", "Bearer wrong"}}).status,
            401);

  // A reload that changes the admin token, then one that is refused for a bad secret.
  config.write(config_text(redis, function, "admin-tok-next-4Ys5"));
  triggerd.process().send_signal(SIGHUP);
  ASSERT_TRUE(wait_until(
      [&] {
        return http_request("GET", admin, "/v1/config", "",
                            {{"Authorization", "Bearer admin-tok-next-4Ys5"}})
                   .status == 200;
      },
      kEventually))
      << triggerd.process().err();
  std::string bad = config_text(redis, function, "admin-tok-next-4Ys5");
  bad.replace(bad.find(kWhsec), kWhsec.size(), "whsec_!" + kSecrets[3]);
  config.write(bad);
  triggerd.process().send_signal(SIGHUP);
  const HttpHeaders next_auth = {{"Authorization", "Bearer admin-tok-next-4Ys5"}};
  ASSERT_TRUE(wait_until(
      [&] {
        return http_request("GET", admin, "/v1/config", "", next_auth).body.find("failure") !=
               std::string::npos;
      },
      kEventually));
  answers += http_request("GET", admin, "/v1/config", "", next_auth).body;
  answers += http_request("GET", admin, "/metrics", "", next_auth).body;

  // validate on the refused file prints its errors.
  const RunResult validated = run_process(triggerd_binary(), {"validate", "-c", config.path()});
  EXPECT_NE(validated.exit_code, 0);

  triggerd.process().send_signal(SIGTERM);
  triggerd.process().wait_for_exit(std::chrono::seconds(10));
  const std::string log = triggerd.process().err() + triggerd.process().out();
  // The paths ran: the log shows each of them (at trace, so it is long).
  EXPECT_THAT(log, HasSubstr("authentication failed"));
  EXPECT_THAT(log, HasSubstr("cache"));
  EXPECT_THAT(log, HasSubstr("server.admin_auth applied"));
  EXPECT_THAT(log, HasSubstr("secrets"));  // the refused reload's error
  EXPECT_THAT(log, HasSubstr("cannot connect to redis cache"));
  EXPECT_THAT(log, HasSubstr("sasl_plaintext://127.0.0.1:9"));
  EXPECT_THAT(log, HasSubstr("dead letter"));

  expect_no_secret("the log", log);
  expect_no_secret("the admin API", answers);
  expect_no_secret("validate", validated.out + validated.err);
  // The function saw its header: the secret is used, just never shown.
  EXPECT_GE(function.request_count(), 2u);
}

}  // namespace
}  // namespace triggerd::testing
