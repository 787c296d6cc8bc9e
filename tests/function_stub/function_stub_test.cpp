// Tests of the function stub, in-process and as the function_stub binary. The client side is a
// small blocking Beast client, so this file is the tests' only Beast translation unit.
#include "tests/function_stub/function_stub.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/net_names.hpp"

extern char** environ;

namespace triggerd::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr milliseconds kClientTimeout(5000);

struct Response {
  beast::error_code error;  // set when no response came
  http::response<http::string_body> message;

  int status() const { return error ? 0 : static_cast<int>(message.result_int()); }
};

// One TCP connection to the stub; requests on it reuse the connection (keep-alive). Each
// operation has a deadline, so a stub that never answers fails the test rather than hanging
// it. (Asio's blocking calls ignore SO_RCVTIMEO: they poll again on EAGAIN. Hence async
// operations bounded by run_for.)
class Client {
 public:
  explicit Client(std::uint16_t port, milliseconds timeout = kClientTimeout)
      : port_(port), timeout_(timeout), socket_(io_) {
    const tcp::endpoint endpoint(asio::ip::make_address_v4("127.0.0.1"), port);
    connect_error_ = run([&](auto done) { socket_.async_connect(endpoint, done); });
  }

  const beast::error_code& connect_error() const { return connect_error_; }

  // Writes a request without waiting for the answer (several in a row are pipelined).
  beast::error_code send(std::string_view method, std::string_view target, std::string body = "",
                         const Headers& headers = {}) {
    http::request<http::string_body> request;
    request.method_string(method);
    request.target(target);
    request.version(11);
    request.set(http::field::host, "127.0.0.1:" + std::to_string(port_));
    for (const auto& [name, value] : headers) request.set(name, value);
    request.keep_alive(true);
    request.body() = std::move(body);
    request.prepare_payload();
    return run([&](auto done) { http::async_write(socket_, request, done); });
  }

  Response receive() {
    Response response;
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::uint64_t{16} * 1024 * 1024);
    response.error = run([&](auto done) { http::async_read(socket_, buffer_, parser, done); });
    if (!response.error) response.message = parser.release();
    return response;
  }

  Response request(std::string_view method, std::string_view target, std::string body = "",
                   const Headers& headers = {}) {
    if (connect_error_) return Response{connect_error_, {}};
    if (auto error = send(method, target, std::move(body), headers)) return Response{error, {}};
    return receive();
  }

  Response get(std::string_view target = "/") { return request("GET", target); }

 private:
  // Runs one asynchronous operation to completion or to the deadline; on the deadline the
  // socket is closed (the connection is useless after a timeout) and timed_out returned.
  template <typename Start>
  beast::error_code run(Start start) {
    beast::error_code result;
    bool done = false;
    start([&](beast::error_code error, auto&&...) {
      result = error;
      done = true;
    });
    io_.restart();
    io_.run_for(timeout_);
    if (!done) {
      beast::error_code ignored;
      socket_.close(ignored);
      io_.restart();
      io_.run();
      result = asio::error::timed_out;
    }
    return result;
  }

  std::uint16_t port_;
  milliseconds timeout_;
  asio::io_context io_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  beast::error_code connect_error_;
};

// A plain TCP connection, for the exact bytes the stub writes (the Beast client above would
// accept more than one spelling of an answer) and for requests written in pieces.
class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    connected_ = ::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  }
  ~RawConnection() { ::close(fd_); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return connected_; }

  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (sent <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(sent));
    }
    return true;
  }

  // Up to `count` bytes: fewer when the peer closes or `timeout` passes first.
  std::string read(std::size_t count, milliseconds timeout = kClientTimeout) {
    std::string bytes;
    const auto deadline = steady_clock::now() + timeout;
    while (bytes.size() < count && !eof_) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now());
      if (left.count() <= 0) break;
      pollfd ready{fd_, POLLIN, 0};
      if (::poll(&ready, 1, static_cast<int>(left.count())) <= 0) break;
      char chunk[65536];
      const ssize_t got = ::recv(fd_, chunk, std::min(sizeof chunk, count - bytes.size()), 0);
      if (got <= 0) {
        eof_ = true;
        break;
      }
      bytes.append(chunk, static_cast<std::size_t>(got));
    }
    return bytes;
  }

  // Reads exactly as many bytes as `expected` has (or fewer, on a close or a timeout).
  std::string read_like(std::string_view expected) { return read(expected.size()); }

  // True when the peer closes within `timeout` without sending anything more.
  bool closed_by_peer(milliseconds timeout = kClientTimeout) {
    return read(1, timeout).empty() && eof_;
  }
  // True when nothing more arrives within `window` and the connection stays open.
  bool quiet_for(milliseconds window) { return read(1, window).empty() && !eof_; }

 private:
  int fd_;
  bool connected_ = false;
  bool eof_ = false;
};

// For figures that settle just after the client has its answer (the stub counts a request
// done once its write completes, which the client may see first).
bool eventually(const std::function<bool()>& condition, milliseconds timeout = milliseconds(2000)) {
  const auto deadline = steady_clock::now() + timeout;
  while (!condition()) {
    if (steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

// The JSON of a control endpoint: /_stub/stats or /_stub/latency.
boost::json::value get_json(std::uint16_t port, std::string_view target) {
  Client client(port);
  const Response response = client.get(target);
  EXPECT_EQ(response.status(), 200) << response.error.message();
  EXPECT_EQ(response.message[http::field::content_type], "application/json");
  return boost::json::parse(response.message.body());
}

// --- Scripted answers -------------------------------------------------------------------------

TEST(FunctionStub, AnswersScriptedStatusesInOrderThenTheDefault) {
  FunctionStub stub;
  stub.enqueue_statuses({503, 429, 201});
  Client client(stub.port());

  EXPECT_EQ(client.get().status(), 503);
  EXPECT_EQ(client.get().status(), 429);
  EXPECT_EQ(client.get().status(), 201);
  EXPECT_EQ(client.get().status(), 200);
  EXPECT_EQ(stub.pending_steps(), 0u);
}

TEST(FunctionStub, AnswersWithTheDefaultSetByAlways) {
  FunctionStub stub;
  stub.always(500);
  stub.enqueue_statuses({202});
  Client client(stub.port());

  EXPECT_EQ(client.get().status(), 202);
  EXPECT_EQ(client.get().status(), 500);
  EXPECT_EQ(client.get().status(), 500);
}

TEST(FunctionStub, SendsTheScriptedHeadersAndBody) {
  FunctionStub stub;
  stub.enqueue(StubStep::respond(429, "slow down").with_header("Retry-After", "3"));
  Client client(stub.port());

  const Response response = client.request("POST", "/fn", "{}");
  EXPECT_EQ(response.status(), 429);
  EXPECT_EQ(response.message["retry-after"], "3");
  EXPECT_EQ(response.message.body(), "slow down");
  EXPECT_TRUE(response.message.keep_alive());
}

TEST(FunctionStub, GivesAPathWithItsOwnScriptItsOwnAnswersAndLeavesTheMainScriptAlone) {
  FunctionStub stub;
  stub.enqueue_statuses({500});
  stub.enqueue_for("/dead-letter", StubStep::respond(503));
  stub.always_for("/dead-letter", StubStep::respond(204));
  Client client(stub.port());

  EXPECT_EQ(client.get("/dead-letter?attempt=1").status(), 503);
  EXPECT_EQ(client.get("/dead-letter").status(), 204);
  EXPECT_EQ(client.get("/").status(), 500);
  EXPECT_EQ(client.get("/").status(), 200);
}

TEST(FunctionStub, RefusesStepsThatHttpCannotCarry) {
  FunctionStub stub;
  EXPECT_THROW(stub.enqueue(StubStep::respond(99)), std::invalid_argument);
  EXPECT_THROW(stub.always(600), std::invalid_argument);
  EXPECT_THROW(stub.enqueue(StubStep::respond(204, "body")), std::invalid_argument);
  EXPECT_EQ(stub.pending_steps(), 0u);
}

// --- Delays, hangs, closes ----------------------------------------------------------------------

TEST(FunctionStub, DelayOnOneConnectionDoesNotBlockAnother) {
  FunctionStub stub;  // one thread: the delay must be a timer, not a sleep
  stub.enqueue(StubStep::respond(200).with_delay(milliseconds(1500)));

  Response slow;
  steady_clock::duration slow_took{};
  std::thread slow_client([&] {
    const auto start = steady_clock::now();
    slow = Client(stub.port()).get("/slow");
    slow_took = steady_clock::now() - start;
  });
  ASSERT_TRUE(stub.wait_for_requests(1, kClientTimeout));

  const auto start = steady_clock::now();
  EXPECT_EQ(Client(stub.port()).get("/fast").status(), 200);
  EXPECT_LT(steady_clock::now() - start, milliseconds(1000));
  slow_client.join();
  EXPECT_EQ(slow.status(), 200);
  EXPECT_GE(slow_took, milliseconds(1500));
}

TEST(FunctionStub, HangMakesTheClientTimeOut) {
  FunctionStub stub;
  stub.enqueue(StubStep::hang());
  Response response;
  std::thread client([&] { response = Client(stub.port(), milliseconds(1000)).get(); });
  ASSERT_TRUE(stub.wait_for_requests(1, kClientTimeout));
  EXPECT_EQ(stub.current_concurrent(), 1);
  client.join();

  EXPECT_EQ(response.error, asio::error::timed_out) << response.error.message();
  // Once the client gives up (and closes), the hung request is no longer in flight.
  EXPECT_TRUE(eventually([&] { return stub.current_concurrent() == 0; }));
  EXPECT_EQ(Client(stub.port()).get().status(), 200);
}

TEST(FunctionStub, CloseWithoutAnswerClosesTheSocket) {
  FunctionStub stub;
  stub.enqueue(StubStep::close_connection());
  Client client(stub.port());

  const Response response = client.get();
  EXPECT_EQ(response.error, http::error::end_of_stream) << response.error.message();
  EXPECT_EQ(client.get().status(), 0);  // the connection is gone for good
  EXPECT_EQ(Client(stub.port()).get().status(), 200);
  EXPECT_EQ(stub.request_count(), 2u);
}

TEST(FunctionStub, ResetWithoutAnswerResetsTheSocket) {
  FunctionStub stub;
  stub.enqueue(StubStep::reset_connection().with_delay(milliseconds(50)));
  Client client(stub.port());

  const Response response = client.get();
  EXPECT_EQ(response.error, asio::error::connection_reset) << response.error.message();
}

// --- Records ----------------------------------------------------------------------------------

TEST(FunctionStub, RecordsMethodTargetHeadersAndExactBodyBytes) {
  FunctionStub stub;
  const std::string body("\x00\x01payload\x00\xff", 11);
  const auto before = std::chrono::system_clock::now();
  Client client(stub.port());
  ASSERT_EQ(client
                .request("POST", "/hello?x=1", body,
                         {{"ce-id", "42"},
                          {"Ce-Type", "dev.triggerd.http.request"},
                          {"Content-Type", "application/octet-stream"}})
                .status(),
            200);

  const auto requests = stub.requests();
  ASSERT_EQ(requests.size(), 1u);
  const RecordedRequest& request = requests[0];
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.target, "/hello?x=1");
  EXPECT_EQ(request.path(), "/hello");
  // Looked up in any case; an absent header reads as "".
  for (const auto& [name, value] : Headers{{"CE-ID", "42"},
                                           {"ce-type", "dev.triggerd.http.request"},
                                           {"content-type", "application/octet-stream"},
                                           {"content-length", "11"},
                                           {"ce-subject", ""}}) {
    EXPECT_EQ(request.header(name), value) << name;
  }
  EXPECT_FALSE(request.has_header("ce-subject"));
  EXPECT_EQ(request.body, body);
  EXPECT_EQ(request.body.size(), 11u);
  EXPECT_GE(request.received_at, before);
  EXPECT_LE(request.received_at, std::chrono::system_clock::now());
}

TEST(FunctionStub, ClearForgetsTheRecords) {
  FunctionStub stub;
  Client client(stub.port());
  client.get();
  client.get();
  EXPECT_EQ(stub.request_count(), 2u);

  stub.clear();
  EXPECT_EQ(stub.request_count(), 0u);
  EXPECT_TRUE(stub.requests().empty());
  client.get("/after");
  ASSERT_EQ(stub.requests().size(), 1u);
  EXPECT_EQ(stub.requests()[0].target, "/after");
}

TEST(FunctionStub, WaitForRequestsGivesUpAfterTheTimeout) {
  FunctionStub stub;
  const auto start = steady_clock::now();
  EXPECT_FALSE(stub.wait_for_requests(1, milliseconds(100)));
  EXPECT_GE(steady_clock::now() - start, milliseconds(100));
}

TEST(FunctionStub, WaitForRequestsWakesWhenTheCountIsReached) {
  FunctionStub stub;
  std::thread client([&] {
    std::this_thread::sleep_for(milliseconds(50));
    Client(stub.port()).get();
    Client(stub.port()).get();
  });
  EXPECT_TRUE(stub.wait_for_requests(2, kClientTimeout));
  client.join();
}

TEST(FunctionStub, CountsButKeepsNothingWhenRecordingIsOff) {
  int observed = 0;  // on_request runs on the single stub thread
  FunctionStubOptions options;
  options.record = false;
  options.on_request = [&](const RecordedRequest& request) {
    if (request.body == "x") ++observed;
  };
  FunctionStub stub(options);
  Client client(stub.port());
  client.request("POST", "/", "x");
  client.request("POST", "/", "x");

  EXPECT_EQ(stub.request_count(), 2u);
  EXPECT_TRUE(stub.requests().empty());
  stub.stop();
  EXPECT_EQ(observed, 2);
}

TEST(FunctionStub, AnswersA413ToABodyOverTheLimit) {
  FunctionStub stub({.max_body_bytes = 10});

  EXPECT_EQ(Client(stub.port()).request("POST", "/", std::string(20, 'x')).status(), 413);
  EXPECT_EQ(stub.request_count(), 0u);
}

TEST(FunctionStub, AnswersExpectContinueBeforeReadingTheBody) {
  FunctionStub stub;
  Client client(stub.port());
  ASSERT_FALSE(client.send("POST", "/", std::string(2000, 'x'), {{"Expect", "100-continue"}}));

  EXPECT_EQ(client.receive().status(), 100);
  EXPECT_EQ(client.receive().status(), 200);
  ASSERT_EQ(stub.requests().size(), 1u);
  EXPECT_EQ(stub.requests()[0].body.size(), 2000u);
}

// --- Connections and concurrency -----------------------------------------------------------------

TEST(FunctionStub, KeepAliveServesTenRequestsOnOneConnection) {
  FunctionStub stub;
  Client client(stub.port());
  for (int i = 0; i < 10; ++i) ASSERT_EQ(client.get().status(), 200) << "request " << i;

  EXPECT_EQ(stub.connection_count(), 1u);
  const auto requests = stub.requests();
  ASSERT_EQ(requests.size(), 10u);
  for (std::size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(requests[i].connection, requests[0].connection);
    EXPECT_EQ(requests[i].index_on_connection, i + 1);
  }

  Client other(stub.port());
  ASSERT_EQ(other.get().status(), 200);
  EXPECT_EQ(stub.connection_count(), 2u);
  EXPECT_NE(stub.requests().back().connection, requests[0].connection);
}

TEST(FunctionStub, AnswersPipelinedRequestsInOrder) {
  FunctionStub stub;
  // The first answer is the slowest: order must follow the requests, not the timers.
  stub.enqueue(StubStep::respond(201, "first").with_delay(milliseconds(200)));
  stub.enqueue(StubStep::respond(202, "second"));
  stub.enqueue(StubStep::respond(203, "third"));
  Client client(stub.port());
  ASSERT_FALSE(client.send("POST", "/1", "a"));
  ASSERT_FALSE(client.send("POST", "/2", "b"));
  ASSERT_FALSE(client.send("POST", "/3", "c"));

  const Response first = client.receive();
  const Response second = client.receive();
  const Response third = client.receive();
  EXPECT_EQ(first.status(), 201);
  EXPECT_EQ(first.message.body(), "first");
  EXPECT_EQ(second.status(), 202);
  EXPECT_EQ(second.message.body(), "second");
  EXPECT_EQ(third.status(), 203);
  EXPECT_EQ(third.message.body(), "third");
  EXPECT_EQ(stub.connection_count(), 1u);
  const auto requests = stub.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[2].body, "c");
}

TEST(FunctionStub, MaxConcurrentReflectsParallelClients) {
  FunctionStub stub;
  stub.always(200, milliseconds(500));
  constexpr int kClients = 6;
  std::vector<std::thread> clients;
  std::vector<int> statuses(kClients);
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] { statuses[i] = Client(stub.port()).get().status(); });
  }
  EXPECT_TRUE(stub.wait_for_requests(kClients, kClientTimeout));
  EXPECT_EQ(stub.current_concurrent(), kClients);
  for (auto& client : clients) client.join();

  for (int status : statuses) EXPECT_EQ(status, 200);
  EXPECT_EQ(stub.max_concurrent(), kClients);
  EXPECT_EQ(stub.connection_count(), static_cast<std::uint64_t>(kClients));
  EXPECT_TRUE(eventually([&] { return stub.current_concurrent() == 0; }));
  stub.reset_max_concurrent();
  EXPECT_EQ(stub.max_concurrent(), 0);
}

TEST(FunctionStub, ServesManyConnectionsFromSeveralThreads) {
  FunctionStub stub({.threads = 2});
  constexpr int kClients = 8;
  constexpr int kRequestsEach = 25;
  std::vector<std::thread> clients;
  std::vector<int> answered(kClients);
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      Client client(stub.port());
      for (int r = 0; r < kRequestsEach; ++r) answered[i] += client.get().status() == 200;
    });
  }
  for (auto& client : clients) client.join();

  for (int count : answered) EXPECT_EQ(count, kRequestsEach);
  EXPECT_EQ(stub.request_count(), static_cast<std::uint64_t>(kClients * kRequestsEach));
  EXPECT_EQ(stub.connection_count(), static_cast<std::uint64_t>(kClients));
}

TEST(FunctionStub, StopClosesHungConnectionsAndRefusesNewOnes) {
  FunctionStub stub;
  stub.always(StubStep::hang());
  Response hung;
  std::thread client([&] { hung = Client(stub.port()).get(); });
  ASSERT_TRUE(stub.wait_for_requests(1, kClientTimeout));

  const auto start = steady_clock::now();
  stub.stop();
  client.join();
  EXPECT_LT(steady_clock::now() - start, milliseconds(2000));
  EXPECT_TRUE(hung.error) << "a hung request got an answer";
  EXPECT_EQ(Client(stub.port()).connect_error(), asio::error::connection_refused);
  stub.stop();  // idempotent
}

// --- Control endpoints ------------------------------------------------------------------------

TEST(FunctionStub, ReportsStatsAsJsonWithoutCountingTheControlRequests) {
  FunctionStub stub;
  Client first(stub.port());
  first.get();
  first.get();
  Client(stub.port()).request("POST", "/", "x");

  const auto stats = get_json(stub.port(), "/_stub/stats");
  EXPECT_EQ(stats.at("requests").to_number<int>(), 3);
  EXPECT_EQ(stats.at("connections").to_number<int>(), 2);
  EXPECT_EQ(stats.at("max_concurrent").to_number<int>(), 1);
  EXPECT_EQ(stub.request_count(), 3u);
  EXPECT_EQ(stub.requests().size(), 3u);

  Client control(stub.port());
  EXPECT_EQ(control.request("POST", "/_stub/reset").status(), 204);
  EXPECT_EQ(control.get("/_stub/reset").status(), 405);
  EXPECT_EQ(control.get("/_stub/nothing").status(), 404);
  const auto after = get_json(stub.port(), "/_stub/stats");
  EXPECT_EQ(after.at("requests").to_number<int>(), 0);
  EXPECT_EQ(after.at("connections").to_number<int>(), 0);
  EXPECT_EQ(after.at("max_concurrent").to_number<int>(), 0);
}

// --- Latency recording ------------------------------------------------------------------------

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST(LatencyParsing, ReadsRfc3339TimesToTheMicrosecond) {
  // 2026-11-28T10:00:00Z is 1795860000 s after the epoch.
  constexpr std::int64_t kTen = std::int64_t{1795860000} * 1000000;
  EXPECT_EQ(parse_rfc3339_us("2026-11-28T10:00:00Z"), kTen);
  EXPECT_EQ(parse_rfc3339_us("2026-11-28T10:00:00.123Z"), kTen + 123000);
  EXPECT_EQ(parse_rfc3339_us("2026-11-28T10:00:00.123456789Z"), kTen + 123456);
  EXPECT_EQ(parse_rfc3339_us("2026-11-28t10:00:00.5z"), kTen + 500000);
  EXPECT_EQ(parse_rfc3339_us("2026-11-28T11:30:00.000001+01:30"), kTen + 1);
  EXPECT_EQ(parse_rfc3339_us("2026-11-28T08:00:00-02:00"), kTen);
  EXPECT_EQ(parse_rfc3339_us("1970-01-01T00:00:00Z"), 0);
  for (const char* bad : {"", "2026-11-28", "2026-11-28T10:00:00", "2026-11-28T10:00:00.Z",
                          "2026-02-30T10:00:00Z", "2026-11-28T24:00:00Z", "2026-11-28T10:00:00+1",
                          "2026-11-28T10:00:00ZZ", "2026/11/28T10:00:00Z"}) {
    EXPECT_EQ(parse_rfc3339_us(bad), std::nullopt) << bad;
  }
}

TEST(LatencyParsing, FindsAnIntegerFieldInJsonWithoutParsingIt) {
  EXPECT_EQ(find_json_integer(R"({"sent_us":1795860000123456,"x":1})", "sent_us"),
            1795860000123456);
  EXPECT_EQ(find_json_integer(R"({"a":"sent_us", "sent_us" :  42})", "sent_us"), 42);
  EXPECT_EQ(find_json_integer(R"({"sent_us":-7})", "sent_us"), -7);
  EXPECT_EQ(find_json_integer(R"({"sent_us":"42"})", "sent_us"), std::nullopt);
  EXPECT_EQ(find_json_integer(R"({"sent":42})", "sent_us"), std::nullopt);
  EXPECT_EQ(find_json_integer(R"({"sent_us":})", "sent_us"), std::nullopt);
  EXPECT_EQ(find_json_integer(R"({"sent_us":99999999999999999999})", "sent_us"), std::nullopt);
}

TEST(LatencyParsing, NamesTheSources) {
  EXPECT_EQ(LatencySource::parse("ce-time")->kind, LatencySource::Kind::kCeTime);
  const auto json = LatencySource::parse("json:sent_us");
  ASSERT_TRUE(json);
  EXPECT_EQ(json->kind, LatencySource::Kind::kJsonField);
  EXPECT_EQ(json->json_field, "sent_us");
  EXPECT_EQ(json->name(), "json:sent_us");
  EXPECT_EQ(LatencySource::parse("json:"), std::nullopt);
  EXPECT_EQ(LatencySource::parse("ce_time"), std::nullopt);
}

TEST(FunctionStub, RecordsLatencyFromAJsonFieldWithPercentiles) {
  FunctionStub stub({.record = false, .latency_from = LatencySource::json("sent_us")});
  Client client(stub.port());
  // Start times 10 ms, 20 ms, ... 2 s in the past: the latencies are those plus the (short)
  // time from here to the stub, so the percentiles are known within a few milliseconds.
  constexpr int kSamples = 200;
  for (int k = 1; k <= kSamples; ++k) {
    const std::string body =
        R"({"note":"x","sent_us":)" + std::to_string(now_us() - k * 10000) + "}";
    ASSERT_EQ(client.request("POST", "/f", body).status(), 200);
  }
  ASSERT_EQ(client.request("POST", "/f", R"({"other":1})").status(), 200);

  const LatencySummary summary = stub.latency();
  EXPECT_EQ(summary.count, 200u);
  EXPECT_EQ(summary.unparsed, 1u);
  constexpr std::int64_t kSlack = 20000;  // the request's own time, and 0.1 % bucket width
  EXPECT_GE(summary.min_us, 10000);
  EXPECT_LT(summary.min_us, 10000 + kSlack);
  EXPECT_GE(summary.p50_us, 1000000 - 1000);  // rank 100
  EXPECT_LT(summary.p50_us, 1000000 + kSlack);
  EXPECT_GE(summary.p99_us, 1980000 - 2000);  // rank 198
  EXPECT_LT(summary.p99_us, 1980000 + kSlack);
  EXPECT_GE(summary.max_us, 2000000);
  EXPECT_LT(summary.max_us, 2000000 + kSlack);
  EXPECT_EQ(summary.p999_us, summary.max_us);  // rank 200: clamped to the exact maximum
  EXPECT_LE(summary.p90_us, summary.p99_us);

  const auto json = get_json(stub.port(), "/_stub/latency");
  EXPECT_EQ(json.at("source").as_string(), "json:sent_us");
  EXPECT_EQ(json.at("count").to_number<int>(), 200);
  EXPECT_EQ(json.at("p50_us").to_number<std::int64_t>(), summary.p50_us);
  EXPECT_EQ(json.at("max_us").to_number<std::int64_t>(), summary.max_us);
}

TEST(FunctionStub, KeepsNegativeLatenciesAndResetClearsThem) {
  FunctionStub stub({.latency_from = LatencySource::json("t")});
  Client client(stub.port());
  // One start time 1 s in the future: the latency is about -1 s and sorts first.
  ASSERT_EQ(
      client.request("POST", "/", R"({"t":)" + std::to_string(now_us() + 1000000) + "}").status(),
      200);
  ASSERT_EQ(
      client.request("POST", "/", R"({"t":)" + std::to_string(now_us() - 3000) + "}").status(),
      200);
  const LatencySummary summary = stub.latency();
  EXPECT_EQ(summary.count, 2u);
  EXPECT_LT(summary.min_us, -980000);
  EXPECT_GE(summary.min_us, -1000000);
  // The median of two is the lower one, to the histogram's precision (0.1 % of the value).
  EXPECT_NEAR(static_cast<double>(summary.p50_us), static_cast<double>(summary.min_us), 1000.0);
  EXPECT_GE(summary.max_us, 3000);

  EXPECT_EQ(client.request("POST", "/_stub/reset").status(), 204);
  const auto json = get_json(stub.port(), "/_stub/latency");
  EXPECT_EQ(json.at("count").to_number<int>(), 0);
  EXPECT_TRUE(json.at("p99_us").is_null());
  EXPECT_EQ(stub.latency().count, 0u);
}

TEST(FunctionStub, AnswersLatencyWithZeroCountWhenNotRecording) {
  FunctionStub stub;
  Client client(stub.port());
  ASSERT_EQ(client.request("POST", "/", R"({"t":1})").status(), 200);
  const auto json = get_json(stub.port(), "/_stub/latency");
  EXPECT_EQ(json.at("source").as_string(), "none");
  EXPECT_EQ(json.at("count").to_number<int>(), 0);
  EXPECT_EQ(json.at("unparsed").to_number<int>(), 0);
  EXPECT_EQ(Client(stub.port()).request("POST", "/_stub/latency").status(), 405);
}

// --- Exact answers and request parsing -----------------------------------------------------------
// The stub formats each step's answer once and writes those bytes, and parses requests with its
// own light parser: these pin the bytes and the connection handling down.

// The default answer, and the same closing the connection.
constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
constexpr std::string_view kOkClose =
    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

TEST(FunctionStubWire, AnswersAtOnceWithA200AndContentLength0AndKeepsTheConnection) {
  FunctionStub stub({.record = false});  // the benchmarks' configuration
  RawConnection connection(stub.port());
  ASSERT_TRUE(connection.connected());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(connection.send("POST /f HTTP/1.1\r\nHost: stub\r\nContent-Length: 3\r\n\r\nabc"));
    EXPECT_EQ(connection.read_like(kOk), kOk) << "request " << i;
  }
  EXPECT_TRUE(connection.quiet_for(milliseconds(50)));
  EXPECT_EQ(stub.request_count(), 3u);
  EXPECT_EQ(stub.connection_count(), 1u);
}

TEST(FunctionStubWire, WritesTheScriptedStatusHeadersAndBody) {
  FunctionStub stub;
  stub.enqueue(StubStep::respond(429, "slow down").with_header("Retry-After", "3"));
  stub.always(StubStep::respond(201, R"({"ok":true})")
                  .with_header("Content-Type", "application/json")
                  .with_header("X-Stub", "a"));
  RawConnection connection(stub.port());
  constexpr std::string_view kFirst =
      "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nContent-Length: 9\r\n\r\nslow down";
  constexpr std::string_view kThen =
      "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-Stub: a\r\n"
      "Content-Length: 11\r\n\r\n{\"ok\":true}";
  ASSERT_TRUE(connection.send("POST /f HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"));
  EXPECT_EQ(connection.read_like(kFirst), kFirst);
  for (int i = 0; i < 2; ++i) {  // the second time from the formatted copy
    ASSERT_TRUE(connection.send("POST /f HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"));
    EXPECT_EQ(connection.read_like(kThen), kThen) << "request " << i;
  }
}

TEST(FunctionStubWire, AnswersHeadWithTheLengthButNoBody) {
  FunctionStub stub;
  stub.always(StubStep::respond(200, "hello"));
  RawConnection connection(stub.port());
  constexpr std::string_view kHead = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
  constexpr std::string_view kGet = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
  // Alternating on one connection: a body after a HEAD answer would show up at the start of
  // the next answer.
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(connection.send("HEAD /f HTTP/1.1\r\n\r\n"));
    EXPECT_EQ(connection.read_like(kHead), kHead) << "round " << i;
    ASSERT_TRUE(connection.send("GET /f HTTP/1.1\r\n\r\n"));
    EXPECT_EQ(connection.read_like(kGet), kGet) << "round " << i;
  }
  EXPECT_TRUE(connection.quiet_for(milliseconds(50)));
}

TEST(FunctionStubWire, Answers204And304WithoutContentLength) {
  FunctionStub stub;
  stub.enqueue(StubStep::respond(304));
  stub.always(StubStep::respond(204));
  RawConnection connection(stub.port());
  constexpr std::string_view kNotModified = "HTTP/1.1 304 Not Modified\r\n\r\n";
  constexpr std::string_view kNoContent = "HTTP/1.1 204 No Content\r\n\r\n";
  ASSERT_TRUE(connection.send("GET / HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(connection.read_like(kNotModified), kNotModified);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(connection.send("POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx"));
    EXPECT_EQ(connection.read_like(kNoContent), kNoContent) << "request " << i;
  }
  EXPECT_TRUE(connection.quiet_for(milliseconds(50)));
}

// Whether a connection stays open after an answer: as the request's version and first
// Connection field ask, unless the step says otherwise.
struct KeepAliveCase {
  const char* name;
  StubStep step;
  std::string_view request;
  std::string_view answer;
  bool closes;
};

void PrintTo(const KeepAliveCase& test, std::ostream* out) { *out << test.name; }

class FunctionStubKeepAlive : public ::testing::TestWithParam<KeepAliveCase> {};

TEST_P(FunctionStubKeepAlive, ClosesOrKeepsTheConnectionAfterTheAnswer) {
  const KeepAliveCase& test = GetParam();
  FunctionStub stub;
  stub.always(test.step);
  RawConnection connection(stub.port());
  // A kept connection must carry a second request as well.
  for (int i = 0; i < (test.closes ? 1 : 2); ++i) {
    ASSERT_TRUE(connection.send(test.request));
    EXPECT_EQ(connection.read_like(test.answer), test.answer) << "request " << i;
  }
  if (test.closes) {
    EXPECT_TRUE(connection.closed_by_peer());
  } else {
    EXPECT_TRUE(connection.quiet_for(milliseconds(50)));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, FunctionStubKeepAlive,
    ::testing::Values(
        KeepAliveCase{
            .name = "ConnectionClose",
            .request = "POST / HTTP/1.1\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx",
            .answer = kOkClose,
            .closes = true},
        KeepAliveCase{.name = "Http10",
                      .request = "GET / HTTP/1.0\r\n\r\n",
                      .answer = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
                      .closes = true},
        KeepAliveCase{
            .name = "Http10KeepAlive",
            .request = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            .answer = "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
            .closes = false},
        KeepAliveCase{.name = "FirstConnectionFieldClose",
                      .request = "GET / HTTP/1.1\r\nConnection: close\r\nConnection: x\r\n\r\n",
                      .answer = kOkClose,
                      .closes = true},
        KeepAliveCase{.name = "CloseInALaterConnectionField",
                      .request = "GET / HTTP/1.1\r\nConnection: x\r\nConnection: close\r\n\r\n",
                      .answer = kOk,
                      .closes = false},
        KeepAliveCase{.name = "StepClosesAndSaysSo",
                      .step = StubStep::respond(200).then(StubStep::After::kClose),
                      .request = "GET / HTTP/1.1\r\n\r\n",
                      .answer = kOkClose,
                      .closes = true},
        KeepAliveCase{.name = "StepHangsUpWithoutSaying",
                      .step = StubStep::respond(200).then(StubStep::After::kHangUp),
                      .request = "GET / HTTP/1.1\r\n\r\n",
                      .answer = kOk,
                      .closes = true}),
    [](const auto& test) { return std::string(test.param.name); });

TEST(FunctionStubWire, RecordsARequestWrittenInPiecesWithAChunkedBody) {
  FunctionStub stub;
  RawConnection connection(stub.port());
  // Split inside the request line, a field name, a chunk size and a chunk's data.
  for (const std::string_view piece :
       {"POST /pie", "ces?x=1 HTTP/1.1\r\nX-Fi", "eld: one\r\nTransfer-Encoding: chunked\r\n\r\n",
        "5\r\nhel", "lo\r\n", "6\r\n wo", "rld\r\n0\r\n", "\r\n"}) {
    ASSERT_TRUE(connection.send(piece));
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(connection.read_like(kOk), kOk);
  const auto requests = stub.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].target, "/pieces?x=1");
  EXPECT_EQ(requests[0].header("x-field"), "one");
  EXPECT_EQ(requests[0].body, "hello world");
  ASSERT_EQ(requests[0].headers.size(), 2u);
  EXPECT_EQ(requests[0].headers[0].first, "X-Field");  // names as sent, in arrival order
  EXPECT_EQ(requests[0].headers[1].first, "Transfer-Encoding");
}

TEST(FunctionStubWire, RecordsBodiesAndHeadersLargerThanOneRead) {
  FunctionStub stub;
  Client client(stub.port());
  std::string body(300 * 1024, 'b');
  for (std::size_t i = 0; i < body.size(); i += 997) body[i] = static_cast<char>('a' + i % 26);
  const std::string large_header(40 * 1024, 'h');  // under the 64 KiB header limit
  ASSERT_EQ(client.request("POST", "/big", body, {{"X-Large", large_header}}).status(), 200);
  ASSERT_EQ(client.request("POST", "/small", "s").status(), 200);
  const auto requests = stub.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].body, body);
  EXPECT_EQ(requests[0].header("x-large"), large_header);
  EXPECT_EQ(requests[1].body, "s");
}

TEST(FunctionStubWire, WithRecordingOffAnswersPipelinedRequestsWithBodies) {
  FunctionStub stub({.record = false});
  RawConnection connection(stub.port());
  // All in one write: the bodies the stub does not keep must still be skipped exactly.
  ASSERT_TRUE(connection.send(
      "POST /1 HTTP/1.1\r\nContent-Length: 5\r\n\r\nfirst"
      "POST /2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nsec\r\n3\r\nond\r\n0\r\n\r\n"
      "GET /3 HTTP/1.1\r\n\r\n"
      "POST /4 HTTP/1.1\r\nContent-Length: 4\r\nConnection: close\r\n\r\nlast"));
  const std::string expected = std::string(kOk).append(kOk).append(kOk).append(kOkClose);
  EXPECT_EQ(connection.read_like(expected), expected);
  EXPECT_TRUE(connection.closed_by_peer());
  EXPECT_EQ(stub.request_count(), 4u);
}

TEST(FunctionStubWire, AnswersMalformedRequestsWith400AndCloses) {
  FunctionStub stub;
  RawConnection connection(stub.port());
  ASSERT_TRUE(connection.send("GET / HTTP/2.0\r\n\r\n"));
  constexpr std::string_view kAnswer =
      "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
      "Content-Length: 12\r\n\r\nbad version\n";
  EXPECT_EQ(connection.read_like(kAnswer), kAnswer);
  EXPECT_TRUE(connection.closed_by_peer());
  EXPECT_EQ(stub.request_count(), 0u);
}

TEST(FunctionStubWire, AnswersExpectContinueWithRecordingOffAndReadsTheBodyAfterwards) {
  FunctionStub stub({.record = false, .latency_from = LatencySource::json("sent_us")});
  RawConnection connection(stub.port());
  const std::string body = R"({"sent_us":)" + std::to_string(now_us()) + "}";
  ASSERT_TRUE(connection.send("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n"));
  constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  EXPECT_EQ(connection.read_like(kContinue), kContinue);
  EXPECT_TRUE(connection.quiet_for(milliseconds(50)));  // no answer before the body
  ASSERT_TRUE(connection.send(body));
  EXPECT_EQ(connection.read_like(kOk), kOk);
  const LatencySummary latency = stub.latency();
  EXPECT_EQ(latency.count, 1u);
  EXPECT_EQ(latency.unparsed, 0u);
}

// --- The binary -------------------------------------------------------------------------------

// The binary run with its stdout on a pipe and its stderr discarded.
class StubProcess {
 public:
  explicit StubProcess(std::vector<std::string> args) {
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    posix_spawn_file_actions_addclose(&actions, out[1]);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    args.insert(args.begin(), FUNCTION_STUB_BINARY);
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const int error =
        posix_spawn(&pid_, FUNCTION_STUB_BINARY, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    stdout_ = out[0];
    if (error != 0) throw std::runtime_error("can't start " FUNCTION_STUB_BINARY);
  }

  ~StubProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(stdout_);
  }

  StubProcess(const StubProcess&) = delete;
  StubProcess& operator=(const StubProcess&) = delete;

  // Sends `signal` and returns the exit status, or -1 if it didn't exit normally.
  int stop(int signal) {
    ::kill(pid_, signal);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  int wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  // Everything written to stdout; call once the process has exited.
  std::string read_stdout() {
    std::string text;
    char chunk[4096];
    for (ssize_t n; (n = ::read(stdout_, chunk, sizeof chunk)) > 0;) text.append(chunk, n);
    return text;
  }

 private:
  pid_t pid_ = 0;
  int stdout_ = -1;
};

std::uint16_t wait_for_port_file(const std::filesystem::path& path) {
  const auto deadline = steady_clock::now() + kClientTimeout;
  while (steady_clock::now() < deadline) {
    std::ifstream in(path);
    int port = 0;
    if (in >> port && port > 0) return static_cast<std::uint16_t>(port);
    std::this_thread::sleep_for(milliseconds(10));
  }
  return 0;
}

std::filesystem::path temp_path(const std::string& name) {
  return std::filesystem::path(::testing::TempDir()) /
         (name + "-" + std::to_string(::getpid()) + "-" +
          ::testing::UnitTest::GetInstance()->current_test_info()->name());
}

TEST(FunctionStubBinary, PrintsOneLinePerRequestAndExitsZeroOnSigterm) {
  const auto port_file = temp_path("port");
  std::filesystem::remove(port_file);
  StubProcess stub(
      {"--listen", "127.0.0.1:0", "--print", "--status", "202", "--port-file", port_file.string()});
  const std::uint16_t port = wait_for_port_file(port_file);
  ASSERT_NE(port, 0) << "no port in " << port_file;

  Client client(port);
  EXPECT_EQ(client
                .request("POST", "/hello", R"({"hello":"world"})",
                         {{"ce-type", "dev.triggerd.http.request"},
                          {"ce-id", "42"},
                          {"ce-source", "/hello"},
                          {"content-type", "application/json"}})
                .status(),
            202);
  EXPECT_EQ(client.request("POST", "/bin", std::string("a\nb\0", 4)).status(), 202);
  const auto stats = get_json(port, "/_stub/stats");
  EXPECT_EQ(stats.at("requests").to_number<int>(), 2);
  EXPECT_EQ(stats.at("connections").to_number<int>(), 1);

  EXPECT_EQ(stub.stop(SIGTERM), 0);
  const std::string out = stub.read_stdout();
  std::vector<std::string> lines;
  for (std::size_t start = 0, end; (end = out.find('\n', start)) != std::string::npos;
       start = end + 1) {
    lines.push_back(out.substr(start, end - start));
  }
  ASSERT_EQ(lines.size(), 2u) << out;
  // "2026-11-28T10:00:00.123Z POST /hello ..."
  EXPECT_EQ(lines[0].size() > 25 ? lines[0].substr(23, 2) : "", "Z ") << lines[0];
  EXPECT_NE(
      lines[0].find(" POST /hello ce-type=dev.triggerd.http.request ce-id=42 ce-source=/hello "
                    R"(body={"hello":"world"})"),
      std::string::npos)
      << lines[0];
  EXPECT_NE(lines[1].find(R"( POST /bin body=a\nb\x00)"), std::string::npos) << lines[1];
  std::filesystem::remove(port_file);
}

TEST(FunctionStubBinary, RecordsLatencyFromCeTimeAndServesIt) {
  const auto port_file = temp_path("port");
  std::filesystem::remove(port_file);
  StubProcess stub({"--latency-from", "ce-time", "--port-file", port_file.string()});
  const std::uint16_t port = wait_for_port_file(port_file);
  ASSERT_NE(port, 0) << "no port in " << port_file;

  // A ce-time 250 ms in the past, in the shape triggerd sends (milliseconds, Z).
  const auto sent = std::chrono::system_clock::now() - milliseconds(250);
  const auto since_epoch = std::chrono::floor<milliseconds>(sent).time_since_epoch();
  const std::time_t seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count();
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[40];
  const std::size_t length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + length, sizeof text - length, ".%03dZ",
                static_cast<int>(since_epoch.count() % 1000));
  const std::string ce_time = text;
  Client client(port);
  EXPECT_EQ(client.request("POST", "/f", "{}", {{"ce-time", ce_time}}).status(), 200) << ce_time;
  EXPECT_EQ(client.request("POST", "/f", "{}", {{"ce-time", "yesterday"}}).status(), 200);
  EXPECT_EQ(client.request("POST", "/f", "{}").status(), 200);

  const auto latency = get_json(port, "/_stub/latency");
  EXPECT_EQ(latency.at("source").as_string(), "ce-time");
  EXPECT_EQ(latency.at("count").to_number<int>(), 1);
  EXPECT_EQ(latency.at("unparsed").to_number<int>(), 2);
  const auto p50 = latency.at("p50_us").to_number<std::int64_t>();
  EXPECT_GE(p50, 250000) << ce_time;
  EXPECT_LT(p50, 2250000) << ce_time;  // generous: a loaded machine
  EXPECT_EQ(latency.at("min_us").to_number<std::int64_t>(), p50);
  EXPECT_EQ(latency.at("max_us").to_number<std::int64_t>(), p50);

  EXPECT_EQ(client.request("POST", "/_stub/reset").status(), 204);
  EXPECT_EQ(get_json(port, "/_stub/latency").at("count").to_number<int>(), 0);
  EXPECT_EQ(stub.stop(SIGTERM), 0);
  std::filesystem::remove(port_file);
}

TEST(FunctionStubBinary, RejectsAnUnknownLatencySource) {
  StubProcess stub({"--latency-from", "json"});
  EXPECT_EQ(stub.wait(), 2);
}

TEST(FunctionStubBinary, ExitsZeroOnSigint) {
  const auto port_file = temp_path("port");
  std::filesystem::remove(port_file);
  StubProcess stub({"--port-file", port_file.string(), "--threads", "2"});
  const std::uint16_t port = wait_for_port_file(port_file);
  ASSERT_NE(port, 0);
  EXPECT_EQ(Client(port).get().status(), 200);
  EXPECT_EQ(stub.stop(SIGINT), 0);
  std::filesystem::remove(port_file);
}

TEST(FunctionStubBinary, RejectsAnUnknownFlagWithExitCode2) {
  StubProcess stub({"--bogus"});
  EXPECT_EQ(stub.wait(), 2);
}

}  // namespace
}  // namespace triggerd::testing
