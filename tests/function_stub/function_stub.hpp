#pragma once
// A scriptable HTTP/1.1 server that stands in for a user's serverless function: in-process in
// GoogleTest tests (scripted answers, recorded requests, concurrency figures) and, through the
// function_stub binary, in benchmarks, the demo and shell tests.
//
// This header is free of Asio and Beast on purpose: they are slow to compile, and every test
// that includes it would pay for them.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace triggerd::testing {

// What the stub does with one request. Build one with the named constructors:
//   StubStep::respond(503).with_header("Retry-After", "2")
//   StubStep::respond(200, R"({"ok":true})").with_delay(std::chrono::milliseconds(50))
//   StubStep::respond(200).then(StubStep::After::kClose)
//   StubStep::close_connection()   StubStep::reset_connection()   StubStep::hang()
struct StubStep {
  enum class Kind {
    kRespond,          // answer with status, headers and body (after the delay)
    kCloseConnection,  // close the connection without an answer (FIN), like a crashed function
    kResetConnection,  // abort the connection without an answer (RST)
    kHang,             // never answer; the request stays in flight until the client gives up
  };

  Kind kind = Kind::kRespond;
  int status = 200;
  // Waited on a timer before answering (or closing): it never holds up other connections.
  std::chrono::milliseconds delay{0};
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // What a kRespond step does with the connection once it has answered.
  enum class After {
    kAsAsked,  // keep it or close it, as the request's HTTP version and Connection field say
    kClose,    // answer with Connection: close, then close it, like a server without keep-alive
    kHangUp,   // answer as keep-alive, then close it anyway, like a server's idle timeout
  };
  After after = After::kAsAsked;

  static StubStep respond(int status, std::string body = "");
  static StubStep close_connection();
  static StubStep reset_connection();
  static StubStep hang();

  StubStep with_delay(std::chrono::milliseconds delay) const&;
  StubStep with_delay(std::chrono::milliseconds delay) &&;
  StubStep with_header(std::string name, std::string value) const&;
  StubStep with_header(std::string name, std::string value) &&;
  StubStep with_body(std::string body) const&;
  StubStep with_body(std::string body) &&;
  StubStep then(After after) const&;
  StubStep then(After after) &&;
};

// One request as the stub received it.
struct RecordedRequest {
  std::string method;
  std::string target;                                        // as sent, with the query string
  std::vector<std::pair<std::string, std::string>> headers;  // in arrival order, names as sent
  std::string body;                                          // byte for byte
  std::chrono::system_clock::time_point received_at;
  std::chrono::steady_clock::time_point received_steady;
  // Identifies the TCP connection: equal ids mean the client reused a keep-alive connection.
  std::uint64_t connection = 0;
  std::uint64_t index_on_connection = 0;  // 1 for the first request on its connection

  // The first value of the header, or "" when absent. `name` in any case.
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const;
  // The target without its query string.
  std::string_view path() const;
};

// Where the stub takes an event's start time from, to record the latency of each request as
// "received minus that time" (both on the system clock, in microseconds).
struct LatencySource {
  enum class Kind {
    kNone,       // no latency recorded
    kCeTime,     // the ce-time header, RFC 3339 (fraction and offset optional)
    kJsonField,  // an integer field of the JSON body: microseconds since the Unix epoch
  };
  Kind kind = Kind::kNone;
  std::string json_field;  // kJsonField: the field's name, found as "NAME": anywhere in the body

  static LatencySource none() { return {}; }
  static LatencySource ce_time() { return {Kind::kCeTime, ""}; }
  static LatencySource json(std::string field) { return {Kind::kJsonField, std::move(field)}; }
  // "ce-time" or "json:FIELD"; nullopt otherwise.
  static std::optional<LatencySource> parse(std::string_view text);
  std::string name() const;  // "none", "ce-time" or "json:FIELD"
};

// Latency figures of the requests since the last reset, in microseconds. Percentiles are the
// nearest rank, read from a histogram exact below 2048 us and within 0.1 % above; count, min
// and max are exact. Negative samples (a start time ahead of the receive time: clock steps,
// or an event sent before its stamped time) are kept as such.
struct LatencySummary {
  std::uint64_t count = 0;
  // Requests that carried no usable start time (header or field missing or malformed).
  std::uint64_t unparsed = 0;
  std::int64_t min_us = 0;
  std::int64_t p50_us = 0;
  std::int64_t p90_us = 0;
  std::int64_t p99_us = 0;
  std::int64_t p999_us = 0;
  std::int64_t max_us = 0;
  double mean_us = 0;
};

// RFC 3339 date-time to microseconds since the Unix epoch: 2026-11-28T10:00:00Z,
// 2026-11-28T10:00:00.123456Z, 2026-11-28T11:00:00.5+01:00 (digits past the sixth of the
// fraction are cut off; a lower-case t and z are accepted). nullopt when malformed.
std::optional<std::int64_t> parse_rfc3339_us(std::string_view text);
// The integer after the first "FIELD": of `json` (whitespace allowed after the colon, a minus
// sign allowed); nullopt when absent or not an integer. No JSON parsing: fast and good enough
// for bodies a benchmark writes.
std::optional<std::int64_t> find_json_integer(std::string_view json, std::string_view field);

struct FunctionStubOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;  // 0: the kernel picks a free one; see FunctionStub::port()
  int threads = 1;         // threads serving connections, each with its own event loop
  // Keeps every request in memory for requests(). The benchmark binary turns it off so that a
  // long run neither grows without bound nor pays for copies.
  bool record = true;
  // Serves GET /_stub/stats, GET /_stub/latency and POST /_stub/reset; such requests are not
  // recorded or counted.
  bool control_endpoints = true;
  // A larger body gets 413 and a closed connection.
  std::size_t max_body_bytes = std::size_t{64} * 1024 * 1024;
  // Called for every counted request as it arrives, on a stub thread (possibly several at once
  // with threads > 1). Used by the binary's --print.
  std::function<void(const RecordedRequest&)> on_request;
  // Chooses the answer to a counted request from what it holds (a batch's per-event statuses,
  // say), instead of the script; nullopt: the script's step. Called like on_request.
  std::function<std::optional<StubStep>(const RecordedRequest&)> answer;
  // Records the latency of every counted request (see LatencySummary); GET /_stub/latency.
  LatencySource latency_from;
  // HTTPS: the server's PEM certificate (chain) and key; both empty: plain HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;
  // HTTPS with client certificates required, checked against this PEM bundle of CAs.
  std::string tls_client_ca_file;
};

class FunctionStub {
 public:
  // Binds and starts serving at once; throws std::system_error when the address can't be bound
  // or the TLS files can't be used.
  explicit FunctionStub(FunctionStubOptions options = {});
  ~FunctionStub();  // stop()
  FunctionStub(const FunctionStub&) = delete;
  FunctionStub& operator=(const FunctionStub&) = delete;

  std::uint16_t port() const;
  // HTTPS: handshakes completed, and how many of them resumed an earlier session.
  std::uint64_t tls_handshakes() const;
  std::uint64_t tls_sessions_resumed() const;
  // "http://ADDRESS:PORT" (https:// with TLS) followed by `path`.
  std::string url(std::string_view path = "/") const;
  // Closes the listener and every connection (hung and delayed requests included) and joins
  // the threads. Idempotent.
  void stop();

  // --- Script -------------------------------------------------------------------------------
  // Each request takes the next step of the FIFO; once it is empty, the default answer (200 at
  // once, until always() changes it). A path given its own script with enqueue_for() or
  // always_for() never takes steps of the main FIFO: once its own FIFO is empty it gets its own
  // default, else the main default. Paths match the target without its query string.
  // Steps are checked here: status outside 200..599, or a body on 204/304, throws
  // std::invalid_argument.
  void enqueue(StubStep step);
  void enqueue_statuses(std::initializer_list<int> statuses);
  void enqueue_for(std::string path, StubStep step);
  void always(int status, std::chrono::milliseconds delay = std::chrono::milliseconds(0));
  void always(StubStep step);
  void always_for(std::string path, StubStep step);
  // Forgets every scripted step and per-path script; the default is 200 at once again.
  void clear_script();
  std::size_t pending_steps() const;  // left in the main FIFO

  // --- Records (control requests excluded) ----------------------------------------------------
  std::vector<RecordedRequest> requests() const;  // a snapshot, in arrival order
  std::uint64_t request_count() const;            // counted even when recording is off
  // True once request_count() >= count; false if `timeout` passes first.
  [[nodiscard]] bool wait_for_requests(std::uint64_t count,
                                       std::chrono::milliseconds timeout) const;
  void clear();  // forgets the records and sets request_count() to 0

  // --- Figures ------------------------------------------------------------------------------
  // Requests being handled: from the moment a request is read until its answer is written
  // (the delay included; a hung request until its connection closes).
  std::int64_t current_concurrent() const;
  std::int64_t max_concurrent() const;
  void reset_max_concurrent();  // to current_concurrent()
  // Connections that carried at least one counted request (so a curl of /_stub/stats during a
  // benchmark doesn't count).
  std::uint64_t connection_count() const;
  // Since the last reset; all zero when options.latency_from is none.
  LatencySummary latency() const;
  // clear(), reset_max_concurrent(), connection_count() and latency() to 0: what
  // POST /_stub/reset does.
  void reset_stats();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace triggerd::testing
