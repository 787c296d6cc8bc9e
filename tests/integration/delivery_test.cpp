// The delivery engine end to end (docs/delivery.md): webhook requests into the real
// triggerd binary, out to a scripted function (FunctionStub), with what a user sees on the
// function's side, on /metrics and on /v1/triggers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/function_stub/test_authority.hpp"
#include "tests/integration/end_to_end.hpp"
#include "tests/support/free_port.hpp"
#include "tests/support/redis_server.hpp"

namespace triggerd::testing {
namespace {

using std::chrono::steady_clock;
using std::chrono::system_clock;
using ::testing::HasSubstr;

// A body that is not text: a NUL, bytes that are not UTF-8, a CR LF that must not end anything.
constexpr char kBinaryBytes[] = "\x00\xff\xfe\x80 not utf-8 \xc3\x28\r\n\x01\x7f end";
const std::string kBinaryBody(kBinaryBytes, sizeof(kBinaryBytes) - 1);

#if defined(TRIGGERD_SANITIZED)
// AddressSanitizer keeps freed memory in quarantine: resident memory grows regardless.
constexpr bool kRssTellsMemoryUse = false;
#else
constexpr bool kRssTellsMemoryUse = true;
#endif

// Every ce-* header of a request, names in lower case.
std::map<std::string, std::string> ce_headers(const RecordedRequest& request) {
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : request.headers) {
    std::string lower;
    for (char c : name)
      lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    if (lower.starts_with("ce-")) out[lower] = value;
  }
  return out;
}

// The gap between two requests as the function saw them.
long long gap_ms(const RecordedRequest& earlier, const RecordedRequest& later) {
  return elapsed_ms(earlier.received_steady, later.received_steady);
}

std::vector<RecordedRequest> requests_to(const FunctionStub& stub, std::string_view path) {
  std::vector<RecordedRequest> out;
  for (RecordedRequest& request : stub.requests()) {
    if (request.path() == path) out.push_back(std::move(request));
  }
  return out;
}

// One webhook trigger `hook` on /hooks/orders delivering to the function `fn` at STUB/fn, with
// `delivery` (YAML flow mapping) and function settings `function_extra` (YAML lines).
std::string hook_config(const FunctionStub& stub, const std::string& delivery,
                        const std::string& function_extra = "") {
  return one_function(stub, function_extra) + hook_trigger(delivery);
}

std::string http_dead_letter(const FunctionStub& stub) {
  return "dead_letter: {type: http, url: \"" + stub.url("/dead-letter") + "\"}";
}

class Delivery : public EndToEndTest {};

TEST_F(Delivery, WebhookPostReachesTheFunctionByteForByteWithItsCloudEventsHeaders) {
  start(hook_config(stub_, "{retries: 0}", R"(    timeout: 5s
    headers:
      Authorization: Bearer fn-token
      X-Team: payments
)"));
  const auto before = system_clock::now();
  const HttpResponse response =
      post("/hooks/orders", kBinaryBody, {{"Content-Type", "image/x-test; charset=none"}});
  const std::string id = accepted_id(response);
  EXPECT_EQ(response.header("Content-Type"), "application/json");
  ASSERT_FALSE(id.empty());

  ASSERT_TRUE(stub_.wait_for_requests(1, kEventually)) << log();
  const RecordedRequest request = stub_.requests().at(0);
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.target, "/fn");
  EXPECT_EQ(request.body, kBinaryBody);
  EXPECT_EQ(request.header("Content-Type"), "image/x-test; charset=none");
  EXPECT_EQ(request.header("Authorization"), "Bearer fn-token");
  EXPECT_EQ(request.header("X-Team"), "payments");

  const auto time = parse_utc_time(request.header("ce-time"));
  ASSERT_TRUE(time) << "ce-time is not RFC 3339 UTC: " << request.header("ce-time");
  // The time the webhook took the request (millisecond precision).
  EXPECT_GE(*time, std::chrono::floor<milliseconds>(before));
  EXPECT_LE(*time, request.received_at);
  const std::map<std::string, std::string> expected{
      {"ce-specversion", "1.0"},
      {"ce-id", id},
      {"ce-source", "/hooks/orders"},
      {"ce-type", "dev.triggerd.http.request"},
      {"ce-time", request.header("ce-time")},
      {"ce-trigger", "hook"},
      {"ce-attempt", "1"},
  };
  EXPECT_EQ(ce_headers(request), expected);
  // Webhook event ids are generated, so two posts must not share one.
  EXPECT_NE(accepted_id(post("/hooks/orders", "again")), id);
}

TEST_F(Delivery, WebhookPostWithoutContentTypeReachesTheFunctionAsOctetStream) {
  start(hook_config(stub_, "{retries: 0}"));
  accepted_id(post("/hooks/orders", kBinaryBody));
  ASSERT_TRUE(stub_.wait_for_requests(1, kEventually)) << log();
  const RecordedRequest request = stub_.requests().at(0);
  EXPECT_EQ(request.header("Content-Type"), "application/octet-stream");
  EXPECT_EQ(request.body, kBinaryBody);
}

TEST_F(Delivery, IncomingBinaryModeCloudEventKeepsItsOwnAttributes) {
  start(hook_config(stub_, "{retries: 0}"));
  const std::string id = accepted_id(post("/hooks/orders", R"({"ref":"main"})",
                                          {{"Content-Type", "application/json"},
                                           {"ce-specversion", "1.0"},
                                           {"ce-id", "delivery-8f2e"},
                                           {"ce-source", "//github.com/acme/shop"},
                                           {"ce-type", "com.github.push"},
                                           {"ce-subject", "refs/heads/main"},
                                           {"ce-tenant", "acme"}}));
  EXPECT_EQ(id, "delivery-8f2e");
  ASSERT_TRUE(stub_.wait_for_requests(1, kEventually)) << log();
  const RecordedRequest request = stub_.requests().at(0);
  EXPECT_EQ(request.body, R"({"ref":"main"})");
  EXPECT_EQ(request.header("Content-Type"), "application/json");
  expect_headers(request, {
                              {"ce-specversion", "1.0"},
                              {"ce-id", "delivery-8f2e"},
                              {"ce-source", "//github.com/acme/shop"},
                              {"ce-type", "com.github.push"},
                              {"ce-subject", "refs/heads/main"},
                              {"ce-tenant", "acme"},
                              {"ce-trigger", "hook"},
                              {"ce-attempt", "1"},
                          });
  EXPECT_TRUE(parse_utc_time(request.header("ce-time"))) << request.header("ce-time");
}

TEST_F(Delivery, IncomingStructuredCloudEventIsDeliveredInBinaryModeWithItsAttributes) {
  start(hook_config(stub_, "{retries: 0}"));
  const std::string id = accepted_id(post("/hooks/orders", R"({
      "specversion": "1.0", "id": "evt-77", "source": "urn:acme:billing",
      "type": "com.acme.invoice.paid", "subject": "invoice/42",
      "time": "2024-05-01T12:00:03Z", "datacontenttype": "application/json",
      "tenant": "acme", "data": {"amount": 42}})",
                                          {{"Content-Type", "application/cloudevents+json"}}));
  EXPECT_EQ(id, "evt-77");
  ASSERT_TRUE(stub_.wait_for_requests(1, kEventually)) << log();
  const RecordedRequest request = stub_.requests().at(0);
  EXPECT_EQ(request.body, R"({"amount":42})");
  EXPECT_EQ(request.header("Content-Type"), "application/json");
  const std::map<std::string, std::string> expected{
      {"ce-specversion", "1.0"},
      {"ce-id", "evt-77"},
      {"ce-source", "urn:acme:billing"},
      {"ce-type", "com.acme.invoice.paid"},
      {"ce-subject", "invoice/42"},
      {"ce-time", "2024-05-01T12:00:03Z"},
      {"ce-tenant", "acme"},
      {"ce-trigger", "hook"},
      {"ce-attempt", "1"},
  };
  EXPECT_EQ(ce_headers(request), expected);
}

TEST_F(Delivery, TraceContextOfTheWebhookRequestIsPassedOn) {
  start(hook_config(stub_, "{retries: 0}"));
  const std::string traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  accepted_id(
      post("/hooks/orders", "traced", {{"traceparent", traceparent}, {"tracestate", "acme=1"}}));
  ASSERT_TRUE(stub_.wait_for_requests(1, kEventually)) << log();
  const RecordedRequest request = stub_.requests().at(0);
  EXPECT_EQ(request.header("traceparent"), traceparent);
  EXPECT_EQ(request.header("tracestate"), "acme=1");
}

TEST_F(Delivery, EventsOneAfterAnotherShareOneKeepAliveConnection) {
  start(hook_config(stub_, "{retries: 0}"));
  for (int i = 1; i <= 5; ++i) {
    accepted_id(post("/hooks/orders", std::to_string(i)));
    ASSERT_TRUE(stub_.wait_for_requests(i, kEventually)) << log();
    // The answer has to be back before the next event, or it would need a second connection.
    ASSERT_TRUE(metric_reaches(R"(triggerd_events_delivered_total{trigger="hook"})", i));
  }
  EXPECT_EQ(stub_.connection_count(), 1u);
  EXPECT_EQ(stub_.requests().back().index_on_connection, 5u);
}

TEST_F(Delivery, TwoFailuresThenSuccessIsDeliveredOnTheThirdAttemptWithinTheBackoff) {
  constexpr long long kDelayMs = 30;
  // Scheduling and the request's own round trip, on top of the drawn delay.
  constexpr long long kSlackMs = 80;
  start(hook_config(stub_, "{retries: 5, backoff: {policy: exponential, delay: 30ms, max: 5s}}"));
  stub_.enqueue_statuses({503, 503, 200});
  const std::string id = accepted_id(post("/hooks/orders", "retry me"));

  ASSERT_TRUE(stub_.wait_for_requests(3, kEventually)) << log();
  ASSERT_TRUE(metric_reaches(R"(triggerd_events_delivered_total{trigger="hook"})", 1)) << log();
  const std::vector<RecordedRequest> requests = stub_.requests();
  ASSERT_EQ(requests.size(), 3u) << "no attempt after the 2xx";
  for (std::size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(requests[i].header("ce-attempt"), std::to_string(i + 1));
    EXPECT_EQ(requests[i].header("ce-id"), id) << "a retry is the same event";
    EXPECT_EQ(requests[i].body, "retry me");
  }
  // Full jitter: the wait before attempt n+1 is drawn from [0, delay·2^(n-1)].
  EXPECT_LE(gap_ms(requests[0], requests[1]), kDelayMs + kSlackMs);
  EXPECT_LE(gap_ms(requests[1], requests[2]), 2 * kDelayMs + kSlackMs);

  const std::string text = metrics();
  EXPECT_EQ(sample(text, R"(triggerd_delivery_attempts_total{result="5xx",trigger="hook"})"), 2);
  EXPECT_EQ(sample(text, R"(triggerd_delivery_attempts_total{result="2xx",trigger="hook"})"), 1);
  EXPECT_EQ(sample(text, R"(triggerd_events_received_total{trigger="hook"})"), 1);
  EXPECT_EQ(sample(text, R"(triggerd_events_dead_lettered_total{trigger="hook"})"), 0);
  EXPECT_EQ(trigger_status("hook").at("delivered").as_int64(), 1);
}

// An https function and an https dead letter, both trusted through tls.ca_file: the event goes
// out encrypted to each, and a refused certificate says why in the dead letter's last error.
TEST_F(Delivery, HttpsFunctionAndDeadLetterAreReachedOverVerifiedTls) {
  const TestAuthority authority;
  const PemPair good = authority.issue({"127.0.0.1"});
  const PemPair wrong_name = authority.issue({"elsewhere.example"});
  const TempFile ca(authority.certificate(), ".pem");
  const TempFile good_cert(good.certificate, ".pem");
  const TempFile good_key(good.key, ".key");
  const TempFile wrong_cert(wrong_name.certificate, ".pem");
  const TempFile wrong_key(wrong_name.key, ".key");
  FunctionStub secure({.tls_cert_file = good_cert.path(), .tls_key_file = good_key.path()});
  FunctionStub misnamed({.tls_cert_file = wrong_cert.path(), .tls_key_file = wrong_key.path()});
  const std::string tls = "    tls: {ca_file: \"" + ca.path() + "\"}\n";
  start("functions:\n  fn:\n    url: " + secure.url("/fn") + "\n" + tls +
        "  misnamed:\n    url: " + misnamed.url("/fn") + "\n" + tls + "triggers:\n" +
        hook_trigger("{retries: 0, dead_letter: {type: http, url: \"" +
                     secure.url("/dead-letter") + "\", tls: {ca_file: \"" + ca.path() +
                     "\"}}}") +
        "  other:\n    function: misnamed\n    source: {type: http, path: /hooks/other}\n"
        "    delivery: {retries: 0, dead_letter: {type: http, url: \"" +
        stub_.url("/dead-letter") + "\"}}\n");
  secure.always_for("/fn", StubStep::respond(200));
  accepted_id(post("/hooks/orders", kBinaryBody));
  ASSERT_TRUE(metric_reaches(R"(triggerd_events_delivered_total{trigger="hook"})", 1)) << log();
  secure.always_for("/fn", StubStep::respond(400));
  accepted_id(post("/hooks/orders", "rejected"));
  ASSERT_TRUE(metric_reaches(R"(triggerd_events_dead_lettered_total{trigger="hook"})", 1)) << log();
  ASSERT_EQ(requests_to(secure, "/fn").size(), 2u);
  EXPECT_EQ(requests_to(secure, "/fn")[0].body, kBinaryBody);
  ASSERT_EQ(requests_to(secure, "/dead-letter").size(), 1u);
  EXPECT_EQ(requests_to(secure, "/dead-letter")[0].body, "rejected");
  EXPECT_EQ(secure.connection_count(), 2u) << "one to the function, one to the dead letter";

  accepted_id(post("/hooks/other", "never sent"));
  ASSERT_TRUE(metric_reaches(R"(triggerd_events_dead_lettered_total{trigger="other"})", 1))
      << log();
  EXPECT_EQ(misnamed.request_count(), 0u);
  const std::vector<RecordedRequest> letters = requests_to(stub_, "/dead-letter");
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0].header("ce-lasterror"),
            "connect_error:%20certificate%20verify%20failed:%20IP%20address%20mismatch%20(the%"
            "20certificate%20is%20not%20for%20127.0.0.1)");
  EXPECT_EQ(sample(metrics(),
                   R"(triggerd_delivery_attempts_total{result="connect_error",trigger="other"})"),
            1);
}

TEST_F(Delivery, RejectedEventGoesToTheHttpDeadLetterAtOnceWithoutRetry) {
  start(hook_config(
      stub_, "{retries: 3, backoff: {delay: 20ms, max: 50ms}, " + http_dead_letter(stub_) + "}"));
  stub_.always_for("/fn", StubStep::respond(400, R"({"error":"bad order"})"));
  const auto before = system_clock::now();
  const std::string id = accepted_id(
      post("/hooks/orders", kBinaryBody, {{"Content-Type", "application/vnd.acme.order"}}));

  ASSERT_TRUE(metric_reaches(R"(triggerd_events_dead_lettered_total{trigger="hook"})", 1)) << log();
  // Retries would have come 20-50 ms apart: give them time to show up.
  std::this_thread::sleep_for(milliseconds(200));
  ASSERT_EQ(requests_to(stub_, "/fn").size(), 1u) << "a 400 is not retried";
  const std::vector<RecordedRequest> dead = requests_to(stub_, "/dead-letter");
  ASSERT_EQ(dead.size(), 1u);
  const RecordedRequest& letter = dead[0];
  EXPECT_EQ(letter.body, kBinaryBody);
  expect_headers(letter, {
                             {"Content-Type", "application/vnd.acme.order"},
                             {"ce-id", id},
                             {"ce-source", "/hooks/orders"},
                             {"ce-type", "dev.triggerd.http.request"},
                             {"ce-trigger", "hook"},
                             {"ce-function", "fn"},
                             {"ce-attempts", "1"},
                             {"ce-laststatus", "400"},
                         });
  const auto first = parse_utc_time(letter.header("ce-firstattempt"));
  ASSERT_TRUE(first) << letter.header("ce-firstattempt");
  EXPECT_GE(*first, std::chrono::floor<milliseconds>(before));
  EXPECT_LE(*first, requests_to(stub_, "/fn").at(0).received_at);

  const std::string text = metrics();
  EXPECT_EQ(sample(text, R"(triggerd_delivery_attempts_total{result="4xx",trigger="hook"})"), 1);
  EXPECT_EQ(sample(text, R"(triggerd_events_delivered_total{trigger="hook"})"), 0);
  EXPECT_EQ(sample(text, R"(triggerd_events_dropped_total{reason="rejected",trigger="hook"})"), 0);
  const boost::json::object status = trigger_status("hook");
  EXPECT_EQ(status.at("dead_lettered").as_int64(), 1);
  EXPECT_EQ(status.at("dropped").as_int64(), 0);
}

TEST_F(Delivery, AttemptThatTimesOutIsRetriedAndThenDelivered) {
  start(hook_config(stub_, "{retries: 2, backoff: {delay: 20ms, max: 50ms}}",
                    "    timeout: 250ms\n"));
  stub_.enqueue(StubStep::hang());
  stub_.enqueue(StubStep::respond(200).with_delay(milliseconds(600)));
  stub_.enqueue(StubStep::respond(200));
  accepted_id(post("/hooks/orders", "slow"));

  ASSERT_TRUE(metric_reaches(R"(triggerd_events_delivered_total{trigger="hook"})", 1)) << log();
  const std::vector<RecordedRequest> requests = stub_.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[2].header("ce-attempt"), "3");
  // Each attempt waited for the whole function timeout before giving up, and no longer. (The
  // timeout runs from the connect, a little before the stub has read the request.)
  for (std::size_t i = 1; i < requests.size(); ++i) {
    EXPECT_GE(gap_ms(requests[i - 1], requests[i]), 240) << "attempt " << i + 1;
    EXPECT_LE(gap_ms(requests[i - 1], requests[i]), 250 + 50 + 150) << "attempt " << i + 1;
  }
  EXPECT_EQ(metric(R"(triggerd_delivery_attempts_total{result="timeout",trigger="hook"})"), 2);
  EXPECT_EQ(metric(R"(triggerd_delivery_attempts_total{result="2xx",trigger="hook"})"), 1);
}

TEST_F(Delivery, TooManyRequestsWithRetryAfterDelaysTheNextAttempt) {
  start(hook_config(stub_, "{retries: 2, backoff: {delay: 20ms, max: 5s}}"));
  stub_.enqueue(StubStep::respond(429).with_header("Retry-After", "1"));
  accepted_id(post("/hooks/orders", "later"));

  ASSERT_TRUE(stub_.wait_for_requests(1, kEventually)) << log();
  // While it waits to retry, the event still counts: KEDA must not scale the function away.
  ASSERT_TRUE(
      metric_reaches(R"(triggerd_delivery_attempts_total{result="4xx",trigger="hook"})", 1));
  const boost::json::object waiting = trigger_status("hook");
  EXPECT_EQ(waiting.at("inflight").as_int64(), 1);
  EXPECT_EQ(waiting.at("backlog").as_int64(), 1);
  EXPECT_EQ(waiting.at("active").as_bool(), true);
  EXPECT_EQ(waiting.at("desired_replicas").as_int64(), 1);

  ASSERT_TRUE(stub_.wait_for_requests(2, kEventually)) << log();
  const std::vector<RecordedRequest> requests = stub_.requests();
  // Not the 20 ms backoff: the function asked for a second.
  EXPECT_GE(gap_ms(requests[0], requests[1]), 950);
  EXPECT_LE(gap_ms(requests[0], requests[1]), 1000 + 300);
  EXPECT_TRUE(metric_reaches(R"(triggerd_events_delivered_total{trigger="hook"})", 1)) << log();
}

TEST_F(Delivery, RetryAfterLongerThanBackoffMaxIsCappedByIt) {
  start(hook_config(stub_, "{retries: 2, backoff: {delay: 20ms, max: 200ms}}"));
  stub_.enqueue(StubStep::respond(429).with_header("Retry-After", "1"));
  accepted_id(post("/hooks/orders", "later"));

  ASSERT_TRUE(stub_.wait_for_requests(2, kEventually)) << log();
  const std::vector<RecordedRequest> requests = stub_.requests();
  // The cap itself, without jitter: the function did ask to wait.
  EXPECT_GE(gap_ms(requests[0], requests[1]), 190);
  EXPECT_LE(gap_ms(requests[0], requests[1]), 200 + 300) << "well before the asked-for second";
}

TEST_F(Delivery, ExhaustedRetriesGoToTheHttpDeadLetterWithTheAttemptsAndLastStatus) {
  start(hook_config(
      stub_, "{retries: 2, backoff: {delay: 20ms, max: 40ms}, " + http_dead_letter(stub_) + "}"));
  stub_.always_for("/fn", StubStep::respond(500));
  const std::string id = accepted_id(post("/hooks/orders", "doomed"));

  ASSERT_TRUE(metric_reaches(R"(triggerd_events_dead_lettered_total{trigger="hook"})", 1)) << log();
  const std::vector<RecordedRequest> attempts = requests_to(stub_, "/fn");
  ASSERT_EQ(attempts.size(), 3u) << "retries: 2 means three attempts";
  const std::vector<RecordedRequest> dead = requests_to(stub_, "/dead-letter");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].body, "doomed");
  expect_headers(dead[0], {
                              {"ce-id", id},
                              {"ce-attempts", "3"},
                              {"ce-laststatus", "500"},
                              {"ce-trigger", "hook"},
                              {"ce-function", "fn"},
                          });
  EXPECT_GE(dead[0].received_steady, attempts[2].received_steady);
  EXPECT_EQ(metric(R"(triggerd_delivery_attempts_total{result="5xx",trigger="hook"})"), 3);
  EXPECT_EQ(trigger_status("hook").at("dead_lettered").as_int64(), 1);
}

TEST_F(Delivery, DeadLetterThatFailsBrieflyIsRetriedUntilItTakesTheEvent) {
  start(hook_config(
      stub_, "{retries: 0, backoff: {delay: 20ms, max: 40ms}, " + http_dead_letter(stub_) + "}"));
  stub_.always_for("/fn", StubStep::respond(400));
  stub_.enqueue_for("/dead-letter", StubStep::respond(503));
  stub_.enqueue_for("/dead-letter", StubStep::close_connection());
  const std::string id = accepted_id(post("/hooks/orders", "keep me"));

  ASSERT_TRUE(metric_reaches(R"(triggerd_events_dead_lettered_total{trigger="hook"})", 1)) << log();
  const std::vector<RecordedRequest> writes = requests_to(stub_, "/dead-letter");
  ASSERT_EQ(writes.size(), 3u);
  for (const RecordedRequest& write : writes) {
    EXPECT_EQ(write.header("ce-id"), id);
    EXPECT_EQ(write.body, "keep me");
  }
  const std::string text = metrics();
  // The 503 is a failed write. The connection closed without an answer may not be: the client
  // sends a request again once on a new connection when a kept-alive one turns out closed.
  const std::optional<double> temporary =
      sample(text, R"(triggerd_dead_letter_failures_total{reason="temporary",trigger="hook"})");
  EXPECT_TRUE(temporary == 1 || temporary == 2) << text;
  EXPECT_EQ(
      sample(text, R"(triggerd_dead_letter_failures_total{reason="permanent",trigger="hook"})"), 0);
  EXPECT_EQ(sample(text, R"(triggerd_events_dropped_total{reason="rejected",trigger="hook"})"), 0);
  EXPECT_EQ(
      sample(text, R"(triggerd_events_dropped_total{reason="dead_letter_failed",trigger="hook"})"),
      0);
  EXPECT_THAT(log(), HasSubstr("dead letter"));
}

// The lines of the log that contain `text`.
std::vector<std::string> log_lines_with(const std::string& log, std::string_view text) {
  std::vector<std::string> lines;
  std::string::size_type start = 0;
  while (start < log.size()) {
    const auto end = std::min(log.find('\n', start), log.size());
    const std::string line = log.substr(start, end - start);
    if (line.find(text) != std::string::npos) lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

const std::string kDroppedDeadLetterFailed =
    R"(triggerd_events_dropped_total{reason="dead_letter_failed",trigger="hook"})";
const std::string kTemporaryFailures =
    R"(triggerd_dead_letter_failures_total{reason="temporary",trigger="hook"})";

// A trigger's dead-letter counters, as one /metrics text has them.
struct DeadLetterCounts {
  std::optional<double> written;           // triggerd_events_dead_lettered_total
  std::optional<double> failed_for_now;    // failed writes, reason="temporary"
  std::optional<double> refused_for_good;  // failed writes, reason="permanent"
  std::optional<double> dropped;           // events dropped, reason="dead_letter_failed"

  bool operator==(const DeadLetterCounts&) const = default;
};

void PrintTo(const DeadLetterCounts& counts, std::ostream* out) {
  *out << "{written " << ::testing::PrintToString(counts.written) << ", failed for now "
       << ::testing::PrintToString(counts.failed_for_now) << ", refused for good "
       << ::testing::PrintToString(counts.refused_for_good) << ", dropped "
       << ::testing::PrintToString(counts.dropped) << "}";
}

DeadLetterCounts dead_letter_counts(const std::string& text, const std::string& trigger = "hook") {
  const std::string label = "trigger=\"" + trigger + "\"}";
  return {
      .written = sample(text, "triggerd_events_dead_lettered_total{" + label),
      .failed_for_now =
          sample(text, R"(triggerd_dead_letter_failures_total{reason="temporary",)" + label),
      .refused_for_good =
          sample(text, R"(triggerd_dead_letter_failures_total{reason="permanent",)" + label),
      .dropped =
          sample(text, R"(triggerd_events_dropped_total{reason="dead_letter_failed",)" + label),
  };
}

// Expects one line of `log` about each of `ids`: an error line that says each of `says`.
void expect_one_error_line_each(const std::string& log, const std::vector<std::string>& ids,
                                const std::vector<std::string>& says) {
  for (const std::string& id : ids) {
    const std::vector<std::string> lines = log_lines_with(log, id);
    ASSERT_EQ(lines.size(), 1u) << id << ":\n" << log;
    EXPECT_THAT(lines[0], HasSubstr(" error "));
    for (const std::string& text : says) EXPECT_THAT(lines[0], HasSubstr(text));
  }
}

// A dead letter that refuses every write (here a collector answering 400) must not hold the
// trigger up: each event it refuses is dropped after one write, logged and counted, and the
// trigger takes and delivers events as before. It used to retry the first events forever while
// the webhook answered 503 to everything else.
TEST_F(Delivery, DeadLetterThatRefusesForGoodDropsTheEventsAndTheTriggerKeepsFlowing) {
  constexpr int kRejected = 10;
  constexpr int kGood = 5;
  start(hook_config(stub_, "{retries: 0, max_inflight: 2, backoff: {delay: 20ms, max: 40ms}, " +
                               http_dead_letter(stub_) + "}"));
  stub_.always_for("/fn", StubStep::respond(400));
  stub_.always_for("/dead-letter", StubStep::respond(400, R"({"error":"schema"})"));

  std::vector<std::string> rejected_ids;
  for (int i = 0; i < kRejected; ++i) {
    const HttpResponse response = post("/hooks/orders", "rejected " + std::to_string(i));
    ASSERT_EQ(response.status, 202) << "event " << i << ": " << response.body << "\n" << log();
    rejected_ids.push_back(accepted_id(response));
    ASSERT_TRUE(metric_reaches(kDroppedDeadLetterFailed, i + 1)) << "event " << i << "\n" << log();
  }
  stub_.always_for("/fn", StubStep::respond(200));
  // One at a time: with max_inflight 2 a burst could find the trigger full (503) on a slow
  // machine, which is right but not what this test is about.
  for (int i = 0; i < kGood; ++i) {
    EXPECT_EQ(post("/hooks/orders", "good " + std::to_string(i)).status, 202) << i;
    ASSERT_TRUE(metric_reaches(R"(triggerd_events_delivered_total{trigger="hook"})", i + 1))
        << log();
  }

  // Function side: every event once. Dead-letter side: one write per rejected event.
  EXPECT_EQ(requests_to(stub_, "/fn").size(), static_cast<std::size_t>(kRejected + kGood));
  const std::vector<RecordedRequest> writes = requests_to(stub_, "/dead-letter");
  std::vector<std::string> written_ids;
  for (const RecordedRequest& write : writes) written_ids.push_back(write.header("ce-id"));
  EXPECT_EQ(written_ids, rejected_ids) << "a refused write is not retried";

  const std::string text = metrics();
  EXPECT_EQ(
      dead_letter_counts(text),
      (DeadLetterCounts{
          .written = 0, .failed_for_now = 0, .refused_for_good = kRejected, .dropped = kRejected}));
  EXPECT_EQ(sample(text, R"(triggerd_events_received_total{trigger="hook"})"), kRejected + kGood);
  const boost::json::object status = trigger_status("hook");
  const std::int64_t delivered = status.at("delivered").as_int64();
  const std::int64_t dead_lettered = status.at("dead_lettered").as_int64();
  const std::int64_t dropped = status.at("dropped").as_int64();
  EXPECT_EQ(delivered, kGood);
  EXPECT_EQ(dropped, kRejected);
  EXPECT_EQ(status.at("inflight").as_int64(), 0);
  EXPECT_EQ(kRejected + kGood - delivered - dead_lettered - dropped, 0) << "lost";

  // Each drop is an error line with the trigger, the event and why.
  expect_one_error_line_each(log(), rejected_ids, {"hook", "refused it for good", "status 400"});
}

// A dead letter that is down for a while (answering 5xx, 429, 408), then back:
// the events that failed meanwhile wait for it and are all dead-lettered once, none lost, none
// twice; one warning when it starts failing and one line when it recovers.
TEST_F(Delivery, DeadLetterDownForAWhileThenBackLosesNothing) {
  constexpr int kEvents = 6;
  constexpr int kFailedWrites = 14;
  start(hook_config(
      stub_, "{retries: 0, backoff: {delay: 20ms, max: 100ms}, " + http_dead_letter(stub_) + "}"));
  stub_.always_for("/fn", StubStep::respond(400));
  for (int i = 0; i < kFailedWrites; ++i) {
    static constexpr int kStatuses[] = {503, 500, 429, 408, 502};
    stub_.enqueue_for("/dead-letter", StubStep::respond(kStatuses[i % 5]));
  }
  std::vector<std::string> ids;
  for (int i = 0; i < kEvents; ++i) {
    ids.push_back(accepted_id(post("/hooks/orders", "event " + std::to_string(i))));
  }

  ASSERT_TRUE(metric_reaches(R"(triggerd_events_dead_lettered_total{trigger="hook"})", kEvents,
                             milliseconds(15000)))
      << log();
  const std::vector<RecordedRequest> writes = requests_to(stub_, "/dead-letter");
  ASSERT_EQ(writes.size(), static_cast<std::size_t>(kFailedWrites + kEvents));
  // The writes after the failing ones are the ones it took: each event exactly once.
  std::multiset<std::string> taken;
  for (std::size_t i = kFailedWrites; i < writes.size(); ++i)
    taken.insert(writes[i].header("ce-id"));
  EXPECT_EQ(taken, std::multiset<std::string>(ids.begin(), ids.end()));

  EXPECT_EQ(dead_letter_counts(metrics()), (DeadLetterCounts{.written = kEvents,
                                                             .failed_for_now = kFailedWrites,
                                                             .refused_for_good = 0,
                                                             .dropped = 0}));
  EXPECT_EQ(trigger_status("hook").at("inflight").as_int64(), 0);
  const std::string text_log = log();
  EXPECT_EQ(log_lines_with(text_log, "the dead letter is failing").size(), 1u) << text_log;
  EXPECT_EQ(log_lines_with(text_log, "the dead letter takes events again").size(), 1u) << text_log;
  EXPECT_TRUE(log_lines_with(text_log, " error ").empty()) << text_log;
}

// A dead letter down for longer than its retry_for: the events that wait for it are dropped
// when it runs out (counted), the trigger goes on, and the dead letter is used again once back.
TEST_F(Delivery, DeadLetterDownPastRetryForDropsTheWaitingEventsAndTheTriggerGoesOn) {
  start(hook_config(stub_,
                    "{retries: 0, backoff: {delay: 20ms, max: 100ms}, "
                    "dead_letter: {type: http, url: \"" +
                        stub_.url("/dead-letter") + "\", retry_for: 1s}}"));
  stub_.always_for("/fn", StubStep::respond(400));
  stub_.always_for("/dead-letter", StubStep::respond(503));
  const auto posted = steady_clock::now();
  const std::string first = accepted_id(post("/hooks/orders", "a"));
  const std::string second = accepted_id(post("/hooks/orders", "b"));

  ASSERT_TRUE(metric_reaches(kDroppedDeadLetterFailed, 2)) << log();
  EXPECT_GE(elapsed_ms(posted, steady_clock::now()), 1000) << "dropped before retry_for was over";
  const double failed_writes = *metric(kTemporaryFailures);
  EXPECT_GE(failed_writes, 4);
  EXPECT_EQ(static_cast<double>(requests_to(stub_, "/dead-letter").size()), failed_writes);
  ASSERT_NO_FATAL_FAILURE(
      expect_one_error_line_each(log(), {first, second}, {"kept failing for 1s", "status 503"}));

  stub_.always_for("/dead-letter", StubStep::respond(200));
  const std::string third = accepted_id(post("/hooks/orders", "c"));
  ASSERT_TRUE(metric_reaches(R"(triggerd_events_dead_lettered_total{trigger="hook"})", 1)) << log();
  EXPECT_EQ(requests_to(stub_, "/dead-letter").back().header("ce-id"), third);
  const boost::json::object status = trigger_status("hook");
  EXPECT_EQ(status.at("dropped").as_int64(), 2);
  EXPECT_EQ(status.at("dead_lettered").as_int64(), 1);
  EXPECT_EQ(status.at("inflight").as_int64(), 0);
  EXPECT_EQ(log_lines_with(log(), "the dead letter takes events again").size(), 1u) << log();
}

// Redis answers WRONGTYPE to an XADD or LPUSH on a key of another type, however often asked:
// the event is dropped after one write, counted, and the key is left as it was.
TEST_F(Delivery, RedisDeadLetterOnAKeyOfTheWrongTypeDropsTheEvents) {
  RedisServer redis;
  RedisTestClient client(redis.port());
  client.command({"SET", "dlq-stream", "not a stream"});
  client.command({"HSET", "dlq-list", "field", "not a list"});
  start("connections:\n  main: {type: redis, address: \"" + redis.address() + "\"}\n" +
        one_function(stub_) + R"(  to-stream:
    function: fn
    source: {type: http, path: /hooks/stream}
    delivery: {retries: 0, dead_letter: {type: redis-stream, connection: main, stream: dlq-stream}}
  to-list:
    function: fn
    source: {type: http, path: /hooks/list}
    delivery: {retries: 0, dead_letter: {type: redis-list, connection: main, list: dlq-list}}
)");
  stub_.always_for("/fn", StubStep::respond(422));
  constexpr int kEach = 3;
  std::vector<std::string> ids;
  for (int i = 0; i < kEach; ++i) {
    ids.push_back(accepted_id(post("/hooks/stream", "s" + std::to_string(i))));
    ids.push_back(accepted_id(post("/hooks/list", "l" + std::to_string(i))));
  }

  for (const std::string trigger : {"to-stream", "to-list"}) {
    const std::string dropped =
        R"(triggerd_events_dropped_total{reason="dead_letter_failed",trigger=")" + trigger + "\"}";
    ASSERT_TRUE(metric_reaches(dropped, kEach)) << trigger << "\n" << log();
    EXPECT_EQ(dead_letter_counts(metrics(), trigger),
              (DeadLetterCounts{
                  .written = 0, .failed_for_now = 0, .refused_for_good = kEach, .dropped = kEach}))
        << trigger;
    const boost::json::object status = trigger_status(trigger);
    EXPECT_EQ(status.at("dropped").as_int64(), kEach);
    EXPECT_EQ(status.at("inflight").as_int64(), 0);
  }
  EXPECT_EQ(client.text({"GET", "dlq-stream"}), "not a stream");
  EXPECT_EQ(client.text({"HGET", "dlq-list", "field"}), "not a list");
  expect_one_error_line_each(log(), ids, {"WRONGTYPE"});
}

// A mock Kafka cluster in the test process on which `topic` does not exist as a broker with
// auto.create.topics.enable=false sees it: metadata answers UNKNOWN_TOPIC_OR_PART for it. (The
// mock cluster creates a topic whenever a client asks for it, and its Metadata API is too old
// for a client to ask it not to; so the topic's metadata error is set instead.)
class KafkaClusterWithoutTopic {
 public:
  explicit KafkaClusterWithoutTopic(const std::string& topic) {
    char error[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", error, sizeof(error));
    handle_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof(error));
    if (handle_ == nullptr) throw std::runtime_error(error);
    cluster_ = rd_kafka_mock_cluster_new(handle_, 1);
    if (cluster_ == nullptr) throw std::runtime_error("no mock cluster");
    rd_kafka_mock_topic_set_error(cluster_, topic.c_str(), RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
  }
  ~KafkaClusterWithoutTopic() {
    if (cluster_ != nullptr) rd_kafka_mock_cluster_destroy(cluster_);
    if (handle_ != nullptr) rd_kafka_destroy(handle_);
  }
  KafkaClusterWithoutTopic(const KafkaClusterWithoutTopic&) = delete;
  KafkaClusterWithoutTopic& operator=(const KafkaClusterWithoutTopic&) = delete;

  std::string bootstrap() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }

 private:
  rd_kafka_t* handle_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
};

// A Kafka dead letter whose topic does not exist (and is not created on demand): every write
// fails for good, so each event is dropped and counted instead of waiting for the topic.
TEST_F(Delivery, KafkaDeadLetterToATopicThatDoesNotExistDropsTheEvents) {
  KafkaClusterWithoutTopic cluster("missing-dlq");
  start(
      "connections:\n  bus:\n    type: kafka\n    brokers: \"" + cluster.bootstrap() + R"("
    options:
      topic.metadata.propagation.max.ms: "500"
)" +
      hook_config(stub_,
                  "{retries: 0, dead_letter: {type: kafka, connection: bus, topic: missing-dlq}}"));
  stub_.always_for("/fn", StubStep::respond(400));
  constexpr int kEvents = 4;
  std::vector<std::string> ids;
  for (int i = 0; i < kEvents; ++i) {
    ids.push_back(accepted_id(post("/hooks/orders", "e" + std::to_string(i))));
  }

  ASSERT_TRUE(metric_reaches(kDroppedDeadLetterFailed, kEvents)) << log();
  EXPECT_EQ(
      dead_letter_counts(metrics()),
      (DeadLetterCounts{
          .written = 0, .failed_for_now = 0, .refused_for_good = kEvents, .dropped = kEvents}));
  EXPECT_EQ(trigger_status("hook").at("inflight").as_int64(), 0);
  expect_one_error_line_each(log(), ids, {"refused it for good"});
}

TEST_F(Delivery, FunctionThatIsDownIsRetriedUntilItComesUp) {
  // Nothing listens on the function's port yet; the stub comes up there later.
  const std::uint16_t port = free_port();
  start(R"(functions:
  late: {url: "http://127.0.0.1:)" +
        std::to_string(port) + R"(/late"}
triggers:
  hook:
    function: late
    source: {type: http, path: /hooks/orders}
    delivery: {retries: 20, backoff: {delay: 20ms, max: 50ms}}
)");
  const std::string id = accepted_id(post("/hooks/orders", "patience"));
  const std::string kRefused =
      R"(triggerd_delivery_attempts_total{result="connect_error",trigger="hook"})";
  ASSERT_TRUE(wait_until([&] { return metric(kRefused) >= 2; }, kEventually)) << log();

  FunctionStub late_stub(FunctionStubOptions{.port = port});
  ASSERT_TRUE(metric_reaches(R"(triggerd_events_delivered_total{trigger="hook"})", 1)) << log();
  ASSERT_EQ(late_stub.requests().size(), 1u);
  EXPECT_EQ(late_stub.requests()[0].header("ce-id"), id);
  EXPECT_EQ(late_stub.requests()[0].body, "patience");
  EXPECT_GE(std::stoi(late_stub.requests()[0].header("ce-attempt")), 3);
}

TEST_F(Delivery, WithoutDeadLetterFailedEventsAreDroppedAndCountedByReason) {
  start(R"(functions:
  flaky: {url: ")" +
        stub_.url("/flaky") + R"("}
  picky: {url: ")" +
        stub_.url("/picky") + R"("}
triggers:
  exhausted:
    function: flaky
    source: {type: http, path: /hooks/exhausted}
    delivery: {retries: 1, backoff: {delay: 20ms, max: 40ms}}
  rejected:
    function: picky
    source: {type: http, path: /hooks/rejected}
    delivery: {retries: 3, backoff: {delay: 20ms, max: 40ms}}
)");
  stub_.always_for("/flaky", StubStep::respond(500));
  stub_.always_for("/picky", StubStep::respond(422));
  const std::string exhausted_id = accepted_id(post("/hooks/exhausted", "a"));
  const std::string rejected_id = accepted_id(post("/hooks/rejected", "b"));

  const std::string kExhausted =
      R"(triggerd_events_dropped_total{reason="retries_exhausted",trigger="exhausted"})";
  const std::string kRejected =
      R"(triggerd_events_dropped_total{reason="rejected",trigger="rejected"})";
  ASSERT_TRUE(metric_reaches(kExhausted, 1)) << log();
  ASSERT_TRUE(metric_reaches(kRejected, 1)) << log();
  std::this_thread::sleep_for(milliseconds(150));  // room for a wrong retry to show up
  EXPECT_EQ(requests_to(stub_, "/flaky").size(), 2u);
  EXPECT_EQ(requests_to(stub_, "/picky").size(), 1u);

  const std::string text = metrics();
  EXPECT_EQ(sample(text, R"(triggerd_events_dropped_total{reason="rejected",trigger="exhausted"})"),
            0);
  EXPECT_EQ(sample(text, R"(triggerd_events_dropped_total{reason="retries_exhausted",)"
                         R"(trigger="rejected"})"),
            0);
  EXPECT_EQ(sample(text, R"(triggerd_events_delivered_total{trigger="exhausted"})"), 0);
  for (const char* name : {"exhausted", "rejected"}) {
    const boost::json::object status = trigger_status(name);
    EXPECT_EQ(status.at("dropped").as_int64(), 1) << name;
    EXPECT_EQ(status.at("dead_lettered").as_int64(), 0) << name;
    EXPECT_EQ(status.at("inflight").as_int64(), 0) << name;
  }
  // Each drop is logged at error level with the event's id.
  for (const std::string& id : {exhausted_id, rejected_id}) {
    const std::string text_log = log();
    const auto at = text_log.find(id);
    ASSERT_NE(at, std::string::npos) << id << " not in the log:\n" << text_log;
    const auto line_start = text_log.rfind('\n', at) + 1;
    const std::string line = text_log.substr(line_start, text_log.find('\n', at) - line_start);
    EXPECT_THAT(line, HasSubstr(" error ")) << line;
    EXPECT_THAT(line, HasSubstr("dropped")) << line;
  }
}

TEST_F(Delivery, FunctionMaxConcurrencyIsNeverExceeded) {
  constexpr int kEvents = 30;
  start(hook_config(stub_, "{retries: 0}", "    max_concurrency: 3\n"));
  stub_.always(200, milliseconds(40));

  std::vector<std::thread> senders;
  std::atomic<int> accepted{0};
  for (int i = 0; i < kEvents; ++i) {
    senders.emplace_back([&, i] {
      if (post("/hooks/orders", "event " + std::to_string(i)).status == 202) ++accepted;
    });
  }
  for (std::thread& sender : senders) sender.join();
  ASSERT_EQ(accepted, kEvents);

  ASSERT_TRUE(metric_reaches(R"(triggerd_events_delivered_total{trigger="hook"})", kEvents))
      << log();
  EXPECT_EQ(stub_.request_count(), static_cast<std::uint64_t>(kEvents));
  EXPECT_LE(stub_.max_concurrent(), 3);
  // And the limit was reached, so the line above did test something.
  EXPECT_EQ(stub_.max_concurrent(), 3);
}

TEST_F(Delivery, FullTriggerAnswers503AndMemoryStaysFlatUnderLoad) {
  constexpr int kMaxInflight = 5;
  start(hook_config(stub_, "{retries: 0, max_inflight: 5}", "    timeout: 60s\n"));
  stub_.always(StubStep::hang());  // a stalled function: nothing ever finishes

  for (int i = 0; i < kMaxInflight; ++i) {
    EXPECT_EQ(post("/hooks/orders", "fits " + std::to_string(i)).status, 202) << i;
  }
  const HttpResponse full = post("/hooks/orders", "one too many");
  EXPECT_EQ(full.status, 503) << full.error;
  EXPECT_FALSE(full.header("Retry-After").empty());

  // A sender that keeps pushing, on keep-alive connections, with bodies large enough that
  // buffering them would show: 2000 x 16 KiB = 31 MiB.
  const std::string body(16 * 1024, 'x');
  auto send = [&](int count) {
    std::atomic<int> busy{0};
    std::vector<std::thread> senders;
    for (int t = 0; t < 4; ++t) {
      senders.emplace_back([&] {
        auto connection = std::make_unique<HttpConnection>(triggerd_->webhook_port());
        for (int i = 0; i < count / 4; ++i) {
          HttpResponse response = connection->request("POST", "/hooks/orders", body);
          if (response.status == 0) {  // closed by the server: a new connection
            connection = std::make_unique<HttpConnection>(triggerd_->webhook_port());
            response = connection->request("POST", "/hooks/orders", body);
          }
          if (response.status == 503 && !response.header("Retry-After").empty()) ++busy;
        }
      });
    }
    for (std::thread& sender : senders) sender.join();
    return busy.load();
  };
  const pid_t pid = triggerd_->process().pid();
  EXPECT_EQ(send(200), 200);
  const long warm = rss_kib(pid);
  const auto start_time = steady_clock::now();
  EXPECT_EQ(send(2000), 2000);
  const long end = rss_kib(pid);
  ASSERT_GT(warm, 0);
  if (kRssTellsMemoryUse) {
    EXPECT_LT(end - warm, 10 * 1024) << "RSS grew from " << warm << " KiB to " << end << " KiB in "
                                     << elapsed_ms(start_time, steady_clock::now()) << " ms";
  }

  EXPECT_EQ(stub_.request_count(), static_cast<std::uint64_t>(kMaxInflight));
  const boost::json::object status = trigger_status("hook");
  EXPECT_EQ(status.at("inflight").as_int64(), kMaxInflight);
  EXPECT_EQ(status.at("backlog").as_int64(), kMaxInflight);
  EXPECT_EQ(metric(R"(triggerd_events_received_total{trigger="hook"})"), kMaxInflight);
  EXPECT_EQ(metric(R"(triggerd_inflight_events{trigger="hook"})"), kMaxInflight);
}

TEST_F(Delivery, FullTriggerTakesEventsAgainOnceTheInFlightOnesFinish) {
  start(hook_config(stub_, "{retries: 0, max_inflight: 2}", "    timeout: 300ms\n"));
  stub_.enqueue(StubStep::hang());
  stub_.enqueue(StubStep::hang());
  accepted_id(post("/hooks/orders", "1"));
  accepted_id(post("/hooks/orders", "2"));
  EXPECT_EQ(post("/hooks/orders", "3").status, 503);

  // Both time out and are dropped (no retries, no dead letter): room again.
  ASSERT_TRUE(metric_reaches(
      R"(triggerd_events_dropped_total{reason="retries_exhausted",trigger="hook"})", 2))
      << log();
  accepted_id(post("/hooks/orders", "4"));
  ASSERT_TRUE(metric_reaches(R"(triggerd_events_delivered_total{trigger="hook"})", 1)) << log();
  EXPECT_EQ(stub_.requests().back().body, "4");
  EXPECT_EQ(trigger_status("hook").at("inflight").as_int64(), 0);
}

TEST_F(Delivery, MetricsAfterEveryKindOfOutcomeAreCleanForPromtool) {
  start(hook_config(
            stub_,
            "{retries: 1, backoff: {delay: 20ms, max: 40ms}, " + http_dead_letter(stub_) + "}",
            "    timeout: 200ms\n") +
        R"(  plain:
    function: fn
    source: {type: http, path: /hooks/plain}
    delivery: {retries: 0}
)");
  // Delivered after a 5xx and a timeout; dead-lettered after a 4xx; dropped.
  stub_.enqueue_for("/fn", StubStep::respond(500));
  stub_.enqueue_for("/fn", StubStep::respond(200));
  accepted_id(post("/hooks/orders", "1"));
  ASSERT_TRUE(metric_reaches(R"(triggerd_events_delivered_total{trigger="hook"})", 1)) << log();
  stub_.enqueue_for("/fn", StubStep::respond(400));
  accepted_id(post("/hooks/orders", "2"));
  ASSERT_TRUE(metric_reaches(R"(triggerd_events_dead_lettered_total{trigger="hook"})", 1)) << log();
  stub_.enqueue_for("/fn", StubStep::hang());
  accepted_id(post("/hooks/plain", "3"));
  ASSERT_TRUE(metric_reaches(
      R"(triggerd_events_dropped_total{reason="retries_exhausted",trigger="plain"})", 1))
      << log();

  const std::string text = metrics();
  EXPECT_GT(sample(text, R"(triggerd_delivery_duration_seconds_count{trigger="hook"})"), 0);
  EXPECT_EQ(sample(text, R"(triggerd_event_duration_seconds_count{trigger="hook"})"), 2);
  const std::optional<std::string> promtool = find_in_path("promtool");
  ASSERT_TRUE(promtool) << "promtool not found: apt-get install prometheus (scripts/setup)";
  const TempFile file(text, ".prom");
  const RunResult check = run_process(*promtool, {"check", "metrics"}, {.stdin_file = file.path()});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_EQ(check.out + check.err, "") << "promtool found problems in:\n" << text;
}

}  // namespace
}  // namespace triggerd::testing
