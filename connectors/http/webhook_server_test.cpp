#include "connectors/http/webhook_server.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <openssl/evp.h>

#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "connectors/event_sink.hpp"
#include "connectors/http/webhook_auth.hpp"
#include "core/text.hpp"
#include "core/net_names.hpp"

namespace triggerd {
namespace {

using Response = http::response<http::string_body>;
using namespace std::string_literals;
using namespace std::chrono_literals;

constexpr std::uint64_t kMaxBody = 1024;
constexpr auto kClientTimeout = 5s;

// What the fake sink keeps of an event (Event itself cannot be copied out).
struct RecordedEvent {
  std::string id, source, type, subject, content_type, data, traceparent;
  std::vector<std::pair<std::string, std::string>> attributes;
};

// Records the events it takes. `room` answers has_room(); `accept` answers try_submit(), so
// that a test can make the trigger fill up between the two.
class FakeSink : public EventSink {
 public:
  bool try_submit(Event& event) override {
    std::lock_guard lock(mutex_);
    if (!accept_) return false;
    events_.push_back({event.id, event.source, event.type, event.subject, event.content_type,
                       std::string(event.data.view()), event.traceparent, std::move(event.attributes)});
    return true;
  }
  bool has_room() const override {
    std::lock_guard lock(mutex_);
    return room_;
  }
  asio::awaitable<void> wait_for_room() override { co_return; }

  void set_room(bool room) {
    std::lock_guard lock(mutex_);
    room_ = room;
  }
  void set_accept(bool accept) {
    std::lock_guard lock(mutex_);
    accept_ = accept;
  }
  std::vector<RecordedEvent> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }

 private:
  mutable std::mutex mutex_;
  bool room_ = true;
  bool accept_ = true;
  std::vector<RecordedEvent> events_;
};

// A blocking HTTP client for tests: every operation gives up after kClientTimeout, so that a
// server that never answers fails the test instead of hanging it.
class Client {
 public:
  // From `local` (another loopback address is another peer to the server).
  explicit Client(std::uint16_t port, const char* local = "127.0.0.1") : stream_(io_) {
    stream_.socket().open(tcp::v4());
    stream_.socket().bind(tcp::endpoint(asio::ip::make_address(local), 0));
    stream_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }

  void send(std::string_view bytes) {
    stream_.expires_after(kClientTimeout);
    beast::error_code error;
    asio::async_write(stream_, asio::buffer(bytes.data(), bytes.size()),
                      [&](beast::error_code e, std::size_t) { error = e; });
    run();
    ASSERT_FALSE(error) << error.message();
  }

  // The next response, or std::nullopt when the connection ended first.
  std::optional<Response> read() {
    http::response_parser<http::string_body> parser;
    stream_.expires_after(kClientTimeout);
    beast::error_code error;
    http::async_read(stream_, buffer_, parser,
                     [&](beast::error_code e, std::size_t) { error = e; });
    run();
    if (error) return std::nullopt;
    return parser.release();
  }

  std::optional<Response> request(std::string_view raw) {
    send(raw);
    return read();
  }

  // Whether the server closes the connection (without sending anything more).
  bool closed_by_server() {
    char byte = 0;
    stream_.expires_after(kClientTimeout);
    beast::error_code error;
    stream_.async_read_some(asio::buffer(&byte, 1),
                            [&](beast::error_code e, std::size_t) { error = e; });
    run();
    return error == asio::error::eof || error == asio::error::connection_reset;
  }

 private:
  void run() {
    io_.restart();
    io_.run();
  }

  asio::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

std::string post(std::string_view target, std::string_view body,
                 std::vector<std::pair<std::string, std::string>> headers = {},
                 std::string_view method = "POST") {
  std::string raw = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\n";
  raw += "Host: 127.0.0.1\r\n";
  for (const auto& [name, value] : headers) raw += name + ": " + value + "\r\n";
  raw += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  raw += body;
  return raw;
}

std::string chunked_post(std::string_view target, const std::vector<std::string>& chunks) {
  std::string raw = "POST " + std::string(target) + " HTTP/1.1\r\n";
  raw += "Host: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (const std::string& chunk : chunks) {
    char size[16];
    std::snprintf(size, sizeof size, "%zx", chunk.size());
    raw += std::string(size) + "\r\n" + chunk + "\r\n";
  }
  return raw + "0\r\n\r\n";
}

std::string json_field(const Response& response, std::string_view key) {
  const auto body = boost::json::parse(response.body());
  const auto* value = body.as_object().if_contains(key);
  return value != nullptr && value->is_string() ? std::string(value->as_string().c_str()) : "";
}

config::HttpSource http_source(std::string path, std::vector<std::string> methods = {"POST"},
                               std::optional<config::WebhookAuth> auth = std::nullopt) {
  config::HttpSource source;
  source.path = std::move(path);
  source.methods = std::move(methods);
  source.auth = std::move(auth);
  return source;
}

class WebhookServerTest : public ::testing::Test {
 protected:
  void start(std::vector<WebhookRoute> routes, WebhookLimits limits = {}) {
    config::ServerConfig server;
    server.listen = {"127.0.0.1", 0};
    server.max_body_size = kMaxBody;
    server_ = std::make_unique<WebhookServer>(io_, server, std::move(routes), limits);
    server_->start();
    runner_ = std::thread([this] { io_.run(); });
  }

  void start_with_orders(WebhookLimits limits = {}) {
    start({{"orders", http_source("/hooks/orders"), &sink_}}, limits);
  }

  // Runs `function` on the server's thread and waits for it.
  template <typename Function>
  auto on_io(Function function) {
    std::packaged_task<decltype(function())()> task(std::move(function));
    auto result = task.get_future();
    asio::post(io_, [&task] { task(); });
    return result.get();
  }

  void TearDown() override {
    if (!server_) return;
    // Not on_io(): after a test's own stop() the loop may have run out of work already.
    asio::post(io_, [this] { server_->stop(); });
    // stop() must leave nothing running: io_context::run() returns by itself.
    auto finished = std::async(std::launch::async, [this] { runner_.join(); });
    if (finished.wait_for(5s) != std::future_status::ready) {
      ADD_FAILURE() << "the io_context still had work 5 s after stop()";
      io_.stop();
    }
    finished.wait();
    server_->stop();  // idempotent; the loop no longer runs
  }

  std::uint16_t port() const { return server_->port(); }

  asio::io_context io_;
  FakeSink sink_;
  std::unique_ptr<WebhookServer> server_;
  std::thread runner_;
};

TEST_F(WebhookServerTest, AcceptsAPostWith202AndTheEventId) {
  start_with_orders();
  Client client(port());
  auto response = client.request(
      post("/hooks/orders", R"({"order":1})", {{"Content-Type", "application/json"}}));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::accepted);
  EXPECT_EQ((*response)[http::field::content_type], "application/json");
  const auto events = sink_.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(json_field(*response, "id"), events[0].id);
  EXPECT_EQ(events[0].type, "dev.triggerd.http.request");
  EXPECT_EQ(events[0].source, "/hooks/orders");
  EXPECT_EQ(events[0].content_type, "application/json");
  EXPECT_EQ(events[0].data, R"({"order":1})");
  EXPECT_EQ(on_io([this] { return server_->stats().accepted; }), 1u);
}

// The 202 is formatted by hand (the hot path); it must say what Beast's own answers say.
TEST_F(WebhookServerTest, The202CarriesTheSameHeadAsEveryOtherAnswer) {
  start_with_orders();
  Client client(port());
  auto response = client.request(post("/hooks/orders", "x"));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::accepted);
  EXPECT_EQ(response->version(), 11u);
  EXPECT_EQ((*response)[http::field::server], "triggerd/" TRIGGERD_VERSION);
  EXPECT_EQ((*response)[http::field::cache_control], "no-store");
  EXPECT_EQ((*response)[http::field::content_length], std::to_string(response->body().size()));
  EXPECT_EQ(response->body(), "{\"id\":\"" + sink_.events().at(0).id + "\"}\n");
  EXPECT_TRUE(response->keep_alive());
}

TEST_F(WebhookServerTest, Http10ClientsGetA202InTheirVersionAndTheirConnectionChoice) {
  start_with_orders();
  {
    Client client(port());
    client.send("POST /hooks/orders HTTP/1.0\r\nHost: x\r\nContent-Length: 1\r\n\r\na");
    auto response = client.read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->result(), http::status::accepted);
    EXPECT_EQ(response->version(), 10u);
    EXPECT_FALSE(response->keep_alive());
  }
  {
    Client client(port());
    client.send(
        "POST /hooks/orders HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n"
        "Content-Length: 1\r\n\r\nb");
    auto response = client.read();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->version(), 10u);
    EXPECT_TRUE(response->keep_alive());
    EXPECT_EQ((*response)[http::field::connection], "keep-alive");
  }
  EXPECT_EQ(sink_.events().size(), 2u);
}

TEST_F(WebhookServerTest, PassesTheBodyOnByteForByte) {
  start_with_orders();
  const std::string body = "\0\x01\xfe\xff\r\n\r\nend\0"s;
  Client client(port());
  auto response = client.request(
      post("/hooks/orders?source=test", body, {{"Content-Type", "application/octet-stream"}}));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::accepted);
  const auto events = sink_.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, body);
  EXPECT_EQ(events[0].source, "/hooks/orders");  // the query is not part of the path
}

TEST_F(WebhookServerTest, WrongMethodGets405WithTheAllowedOnes) {
  start({{"orders", http_source("/hooks/orders", {"POST", "PUT"}), &sink_}});
  Client client(port());
  auto response = client.request("GET /hooks/orders HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::method_not_allowed);
  EXPECT_EQ((*response)[http::field::allow], "POST, PUT");
  // No body came with the GET, so the connection is still good for the next request.
  response = client.request(post("/hooks/orders", "x", {}, "PUT"));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::accepted);
}

TEST_F(WebhookServerTest, BodyOverTheLimitGets413BeforeItIsSent) {
  start_with_orders();
  Client client(port());
  // Only the header: the answer must come without the server waiting for the body.
  client.send("POST /hooks/orders HTTP/1.1\r\nHost: x\r\nContent-Length: " +
              std::to_string(kMaxBody + 1) + "\r\n\r\n");
  auto response = client.read();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::payload_too_large);
  EXPECT_FALSE(response->keep_alive());
  EXPECT_TRUE(sink_.events().empty());
}

TEST_F(WebhookServerTest, BodyOverTheLimitSentAnywayStillGetsTheAnswer) {
  start_with_orders();
  Client client(port());
  // The client does not wait: the whole body is on its way when the 413 is written. The
  // server must read it off rather than reset the connection under the answer.
  client.send(post("/hooks/orders", std::string(4 * kMaxBody, 'x')));
  auto response = client.read();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::payload_too_large);
  EXPECT_TRUE(client.closed_by_server());
  EXPECT_TRUE(sink_.events().empty());
}

TEST_F(WebhookServerTest, BodyOfExactlyTheLimitIsAccepted) {
  start_with_orders();
  Client client(port());
  auto response = client.request(post("/hooks/orders", std::string(kMaxBody, 'x')));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::accepted);
  ASSERT_EQ(sink_.events().size(), 1u);
  EXPECT_EQ(sink_.events()[0].data.size(), kMaxBody);
}

TEST_F(WebhookServerTest, ChunkedBodyWithinTheLimitArrivesWhole) {
  start_with_orders();
  Client client(port());
  auto response = client.request(chunked_post("/hooks/orders", {"hello, ", "chunked ", "world"}));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::accepted);
  ASSERT_EQ(sink_.events().size(), 1u);
  EXPECT_EQ(sink_.events()[0].data, "hello, chunked world");
}

TEST_F(WebhookServerTest, BearerAuthRefusesMissingAndWrongTokens) {
  start({{"orders",
          http_source("/hooks/orders", {"POST"}, config::BearerAuth{config::Secret("right-token")}),
          &sink_}});
  Client client(port());
  auto missing = client.request(post("/hooks/orders", "x"));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->result(), http::status::unauthorized);
  EXPECT_EQ((*missing)[http::field::www_authenticate], "Bearer");
  auto wrong =
      client.request(post("/hooks/orders", "x", {{"Authorization", "Bearer wrong-token"}}));
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->result(), http::status::unauthorized);
  EXPECT_TRUE(sink_.events().empty());
  auto right =
      client.request(post("/hooks/orders", "x", {{"Authorization", "Bearer right-token"}}));
  ASSERT_TRUE(right);
  EXPECT_EQ(right->result(), http::status::accepted);
  EXPECT_EQ(sink_.events().size(), 1u);
}

TEST_F(WebhookServerTest, HmacAuthRefusesMissingAndWrongSignatures) {
  start({{"orders",
          http_source("/hooks/orders", {"POST"},
                      config::HmacSha256Auth{config::Secret("It's a Secret to Everybody"),
                                             "X-Hub-Signature-256"}),
          &sink_}});
  const std::string signature =
      "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
  Client client(port());
  auto missing = client.request(post("/hooks/orders", "Hello, World!"));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->result(), http::status::unauthorized);
  auto wrong =
      client.request(post("/hooks/orders", "Hello, World?", {{"X-Hub-Signature-256", signature}}));
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->result(), http::status::unauthorized);
  EXPECT_TRUE(sink_.events().empty());
  auto right =
      client.request(post("/hooks/orders", "Hello, World!", {{"x-hub-signature-256", signature}}));
  ASSERT_TRUE(right);
  EXPECT_EQ(right->result(), http::status::accepted);
  ASSERT_EQ(sink_.events().size(), 1u);
  EXPECT_EQ(sink_.events()[0].data, "Hello, World!");
}

std::string unix_seconds(std::chrono::system_clock::time_point at) {
  return std::to_string(
      std::chrono::duration_cast<std::chrono::seconds>(at.time_since_epoch()).count());
}

TEST_F(WebhookServerTest, HmacWithATimestampRefusesAReplayOutsideTheWindow) {
  config::HmacSha256Auth auth{config::Secret("hook-secret"), "X-Signature"};
  auth.timestamp_header = "X-Timestamp";
  start({{"orders", http_source("/hooks/orders", {"POST"}, auth), &sink_}});
  auto signed_post = [&](std::chrono::system_clock::time_point at) {
    const std::string timestamp = unix_seconds(at);
    const std::string signature =
        "sha256=" + to_hex(*hmac_sha256("hook-secret", {timestamp, ".", "order-1"}));
    return post("/hooks/orders", "order-1",
                {{"X-Signature", signature}, {"X-Timestamp", timestamp}});
  };
  Client client(port());
  auto fresh = client.request(signed_post(std::chrono::system_clock::now()));
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->result(), http::status::accepted);
  // The same request captured ten minutes ago and sent again now.
  auto replayed = client.request(signed_post(std::chrono::system_clock::now() - 10min));
  ASSERT_TRUE(replayed);
  EXPECT_EQ(replayed->result(), http::status::unauthorized);
  EXPECT_EQ(sink_.events().size(), 1u);
}

// "v1,BASE64" of HMAC-SHA256("ID.TIMESTAMP.BODY") under `key`, as a Standard Webhooks sender
// signs.
std::string standard_signature(const std::string& key, const std::string& id,
                               const std::string& timestamp, const std::string& body) {
  const Sha256Digest digest = *hmac_sha256(key, {id, ".", timestamp, ".", body});
  std::string encoded(4 * ((digest.size() + 2) / 3), '\0');
  EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()), digest.data(),
                  static_cast<int>(digest.size()));
  return "v1," + encoded;
}

TEST_F(WebhookServerTest, StandardWebhooksWithTwoKeysDuringARotationAndNoReplays) {
  // The published test vector's key, and a new one the sender rotates to.
  const std::string old_key = *base64_decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  const std::string new_key = "another-endpoint-key-32-bytes!!!";
  config::StandardWebhooksAuth auth;
  auth.keys = {config::Secret(old_key), config::Secret(new_key)};
  start({{"orders", http_source("/hooks/orders", {"POST"}, auth), &sink_}});
  const std::string body = R"({"test": 2432232314})";
  auto signed_post = [&](const std::string& id, std::chrono::system_clock::time_point at,
                         const std::string& signatures) {
    return post("/hooks/orders", body,
                {{"webhook-id", id}, {"webhook-timestamp", unix_seconds(at)},
                 {"webhook-signature", signatures}});
  };
  const auto now = std::chrono::system_clock::now();
  const std::string ts = unix_seconds(now);
  Client client(port());
  for (const auto& [id, signatures, status] :
       std::vector<std::tuple<std::string, std::string, http::status>>{
           {"msg_1", standard_signature(old_key, "msg_1", ts, body), http::status::accepted},
           {"msg_2", standard_signature(new_key, "msg_2", ts, body), http::status::accepted},
           // The sender signing with both while it rotates.
           {"msg_3",
            standard_signature(new_key, "msg_3", ts, body) + " " +
                standard_signature(old_key, "msg_3", ts, body),
            http::status::accepted},
           {"msg_4", standard_signature("an unknown key", "msg_4", ts, body),
            http::status::unauthorized},
           // Signed for another message id.
           {"msg_5", standard_signature(old_key, "msg_1", ts, body), http::status::unauthorized},
       }) {
    SCOPED_TRACE(id);
    auto response = client.request(signed_post(id, now, signatures));
    ASSERT_TRUE(response);
    EXPECT_EQ(response->result(), status);
  }
  const auto old = now - 6min;
  auto replayed = client.request(
      signed_post("msg_6", old, standard_signature(old_key, "msg_6", unix_seconds(old), body)));
  ASSERT_TRUE(replayed);
  EXPECT_EQ(replayed->result(), http::status::unauthorized);
  EXPECT_EQ(sink_.events().size(), 3u);
}

TEST_F(WebhookServerTest, FullTriggerGets503WithRetryAfter) {
  start_with_orders();
  sink_.set_room(false);
  Client client(port());
  auto response = client.request(post("/hooks/orders", "x"));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::service_unavailable);
  EXPECT_EQ((*response)[http::field::retry_after], "1");
  EXPECT_TRUE(sink_.events().empty());
}

TEST_F(WebhookServerTest, TriggerThatFillsWhileTheBodyIsReadGets503) {
  start_with_orders();
  sink_.set_accept(false);  // has_room() still says yes
  Client client(port());
  auto response = client.request(post("/hooks/orders", "x"));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::service_unavailable);
  EXPECT_EQ((*response)[http::field::retry_after], "1");
  // The whole request was read, so the connection can go on.
  sink_.set_accept(true);
  response = client.request(post("/hooks/orders", "y"));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::accepted);
}

TEST_F(WebhookServerTest, KeepsTheConnectionAliveAcrossRequests) {
  start_with_orders();
  Client client(port());
  for (int i = 0; i < 3; ++i) {
    auto response = client.request(post("/hooks/orders", "event " + std::to_string(i)));
    ASSERT_TRUE(response) << i;
    EXPECT_EQ(response->result(), http::status::accepted);
    EXPECT_TRUE(response->keep_alive());
  }
  const auto events = sink_.events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].data, "event 2");
  EXPECT_EQ(on_io([this] { return server_->open_connections(); }), 1u);
}

TEST_F(WebhookServerTest, PipelinedRequestsAreAnsweredInOrder) {
  start_with_orders();
  Client client(port());
  client.send(post("/hooks/orders", "first") + post("/hooks/orders", "second"));
  auto first = client.read();
  auto second = client.read();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->result(), http::status::accepted);
  EXPECT_EQ(second->result(), http::status::accepted);
  const auto events = sink_.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(json_field(*second, "id"), events[1].id);
  EXPECT_EQ(events[1].data, "second");
}

// One request on a new connection: what the server answers, and what reaches the sink.
struct ExchangeCase {
  const char* name;
  std::string request;  // as sent
  http::status status;
  // An accepted request's event, all but traceparent; its id is the answer's.
  std::optional<RecordedEvent> event;
  // A refused request gets a JSON error, with this in it.
  std::string error_mentions;
};

void PrintTo(const ExchangeCase& test, std::ostream* out) { *out << test.name; }

class WebhookExchangeTest : public WebhookServerTest,
                            public ::testing::WithParamInterface<ExchangeCase> {};

TEST_P(WebhookExchangeTest, AnswersAndPassesOnTheEvent) {
  const ExchangeCase& test = GetParam();
  start_with_orders();
  Client client(port());
  auto response = client.request(test.request);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), test.status);
  const auto events = sink_.events();
  if (!test.event) {
    const std::string error = json_field(*response, "error");
    EXPECT_FALSE(error.empty());
    EXPECT_NE(error.find(test.error_mentions), std::string::npos) << error;
    EXPECT_TRUE(events.empty());
    return;
  }
  EXPECT_EQ(json_field(*response, "id"), test.event->id);
  ASSERT_EQ(events.size(), 1u);
  const RecordedEvent& event = events[0];
  EXPECT_EQ(event.id, test.event->id);
  EXPECT_EQ(event.source, test.event->source);
  EXPECT_EQ(event.type, test.event->type);
  EXPECT_EQ(event.subject, test.event->subject);
  EXPECT_EQ(event.content_type, test.event->content_type);
  EXPECT_EQ(event.data, test.event->data);
  EXPECT_EQ(event.attributes, test.event->attributes);
}

INSTANTIATE_TEST_SUITE_P(
    Requests, WebhookExchangeTest,
    ::testing::Values(
        ExchangeCase{.name = "BinaryCloudEventKeepsItsAttributes",
                     .request = post("/hooks/orders", "<xml/>",
                                     {{"ce-specversion", "1.0"},
                                      {"ce-id", "evt-42"},
                                      {"ce-source", "https://example.com/repo"},
                                      {"ce-type", "com.example.push"},
                                      {"ce-subject", "main"},
                                      {"ce-myextension", "yes"},
                                      {"Content-Type", "application/xml"}}),
                     .status = http::status::accepted,
                     .event = RecordedEvent{.id = "evt-42",
                                            .source = "https://example.com/repo",
                                            .type = "com.example.push",
                                            .subject = "main",
                                            .content_type = "application/xml",
                                            .data = "<xml/>",
                                            .attributes = {{"myextension", "yes"}}}},
        ExchangeCase{.name = "StructuredCloudEventKeepsItsAttributes",
                     .request = post("/hooks/orders",
                                     R"({"specversion":"1.0","id":"evt-7","source":"/billing",)"
                                     R"("type":"com.example.paid","region":"eu",)"
                                     R"("datacontenttype":"text/plain","data":"paid in full"})",
                                     {{"Content-Type", "application/cloudevents+json"}}),
                     .status = http::status::accepted,
                     .event = RecordedEvent{.id = "evt-7",
                                            .source = "/billing",
                                            .type = "com.example.paid",
                                            .content_type = "text/plain",
                                            .data = "paid in full",
                                            .attributes = {{"region", "eu"}}}},
        ExchangeCase{.name = "UnknownPathGets404",
                     .request = post("/hooks/other", "x"),
                     .status = http::status::not_found},
        ExchangeCase{.name = "ChunkedBodyOverTheLimitGets413",
                     .request = chunked_post("/hooks/orders", {std::string(kMaxBody / 2, 'a'),
                                                               std::string(kMaxBody / 2 + 1, 'b')}),
                     .status = http::status::payload_too_large},
        ExchangeCase{
            .name = "HeaderOverTheLimitGets431",
            .request = post("/hooks/orders", "x", {{"X-Padding", std::string(17 * 1024, 'p')}}),
            .status = http::status::request_header_fields_too_large},
        ExchangeCase{.name = "MalformedHttpGets400",
                     .request = "POST /hooks/orders HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
                     .status = http::status::bad_request},
        ExchangeCase{.name = "MalformedCloudEventGets400SayingWhy",
                     .request = post("/hooks/orders", "x", {{"ce-specversion", "1.0"}}),
                     .status = http::status::bad_request,
                     .error_mentions = "ce-id"}),
    [](const auto& test) { return std::string(test.param.name); });

TEST_F(WebhookServerTest, StopAcceptingAnswers503OnOpenConnectionsAndRefusesNewOnes) {
  start_with_orders();
  Client client(port());
  auto before = client.request(post("/hooks/orders", "before"));
  ASSERT_TRUE(before);
  EXPECT_EQ(before->result(), http::status::accepted);

  on_io([this] { server_->stop_accepting(); });
  auto during = client.request(post("/hooks/orders", "during"));
  ASSERT_TRUE(during);
  EXPECT_EQ(during->result(), http::status::service_unavailable);
  EXPECT_EQ((*during)[http::field::retry_after], "1");
  EXPECT_FALSE(during->keep_alive());
  EXPECT_TRUE(client.closed_by_server());
  EXPECT_EQ(sink_.events().size(), 1u);

  asio::io_context io;
  tcp::socket socket(io);
  beast::error_code error;
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port()), error);
  EXPECT_EQ(error, asio::error::connection_refused);
}

TEST_F(WebhookServerTest, StopClosesEveryConnection) {
  start_with_orders();
  Client idle(port());
  Client busy(port());
  busy.send("POST /hooks/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhalf");
  // Both connections are registered once the server has read from `busy`; give it a moment.
  for (int i = 0; i < 100 && on_io([this] { return server_->open_connections(); }) < 2; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  on_io([this] { server_->stop(); });
  EXPECT_TRUE(idle.closed_by_server());
  EXPECT_TRUE(busy.closed_by_server());
  EXPECT_TRUE(sink_.events().empty());
}

TEST_F(WebhookServerTest, SlowClientIsCutAtTheRequestDeadline) {
  WebhookLimits limits;
  limits.request_timeout = 300ms;
  start_with_orders(limits);
  Client client(port());
  const auto started = std::chrono::steady_clock::now();
  client.send("POST /hooks/orders HTTP/1.1\r\nHost: x\r\n");  // and then nothing
  EXPECT_TRUE(client.closed_by_server());
  EXPECT_GE(std::chrono::steady_clock::now() - started, 250ms);
  EXPECT_TRUE(sink_.events().empty());
}

TEST_F(WebhookServerTest, IdleKeepAliveConnectionIsClosedAfterTheIdleTimeout) {
  WebhookLimits limits;
  limits.idle_timeout = 300ms;
  start_with_orders(limits);
  Client client(port());
  auto response = client.request(post("/hooks/orders", "x"));
  ASSERT_TRUE(response);
  EXPECT_TRUE(response->keep_alive());
  EXPECT_TRUE(client.closed_by_server());
}

TEST_F(WebhookServerTest, ConnectionsBeyondTheLimitAreClosedAtOnce) {
  WebhookLimits limits;
  limits.max_connections = 1;
  start_with_orders(limits);
  Client first(port());
  auto response = first.request(post("/hooks/orders", "1"));  // the server now holds it
  ASSERT_TRUE(response);
  Client second(port());
  EXPECT_TRUE(second.closed_by_server());
  response = first.request(post("/hooks/orders", "2"));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::accepted);
  EXPECT_EQ(on_io([this] { return server_->stats().connections_refused; }), 1u);
}

TEST_F(WebhookServerTest, ExpectContinueGetsTheGoAheadBeforeTheBody) {
  start_with_orders();
  Client client(port());
  client.send(
      "POST /hooks/orders HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
      "Content-Length: 5\r\n\r\n");
  auto go_on = client.read();
  ASSERT_TRUE(go_on);
  EXPECT_EQ(go_on->result(), http::status::continue_);
  client.send("hello");
  auto response = client.read();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::accepted);
  ASSERT_EQ(sink_.events().size(), 1u);
  EXPECT_EQ(sink_.events()[0].data, "hello");
}

TEST_F(WebhookServerTest, BodyBudgetSpentGets503) {
  WebhookLimits limits;
  limits.max_buffered_body_bytes = 0;  // raised to max_body_size + 1: one body at a time
  start_with_orders(limits);
  Client slow(port());
  slow.send("POST /hooks/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\npart");
  // Once the server has taken the slow body's share (1000 bytes), another 100 bytes are over
  // the budget of 1025. Until it has, the other request may still get through.
  Client other(port());
  std::optional<Response> response;
  for (int i = 0; i < 200; ++i) {
    response = other.request(post("/hooks/orders", std::string(100, 'x')));
    ASSERT_TRUE(response);
    if (response->result() != http::status::accepted) break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(response->result(), http::status::service_unavailable);
  EXPECT_EQ((*response)[http::field::retry_after], "1");
  // The share comes back when the slow request is done with its body.
  slow.send(std::string(996, 'y'));
  auto slow_response = slow.read();
  ASSERT_TRUE(slow_response);
  EXPECT_EQ(slow_response->result(), http::status::accepted);
  response = other.request(post("/hooks/orders", std::string(100, 'x')));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::accepted);
}

TEST_F(WebhookServerTest, UnsignedBodiesFromOneClientCannotStarveSignedOrAuthenticatedSenders) {
  // max_body_size is 1024: a budget of 16 bodies, 8 for bodies not authenticated yet, one of
  // those per peer address.
  WebhookLimits limits;
  limits.max_buffered_body_bytes = 16 * 1025;
  const config::HmacSha256Auth hmac{config::Secret("hook-secret"), "X-Signature"};
  start({{"signed", http_source("/hooks/signed", {"POST"}, hmac), &sink_},
         {"bearer",
          http_source("/hooks/bearer", {"POST"}, config::BearerAuth{config::Secret("tok")}),
          &sink_}},
        limits);
  // The flood: more slow bodies than the whole budget holds (20 x 1000 bytes), none of them
  // signed, from 127.0.0.1. Without a room of their own they would take it all, and every
  // sender below would get 503.
  std::vector<std::unique_ptr<Client>> flood;
  for (int i = 0; i < 20; ++i) {
    flood.push_back(std::make_unique<Client>(port()));
    flood.back()->send(
        "POST /hooks/signed HTTP/1.1\r\nHost: x\r\nX-Signature: sha256=00\r\n"
        "Content-Length: 1000\r\n\r\npart");
  }
  std::this_thread::sleep_for(100ms);  // the server has read every head by now
  const std::string body(1000, 'b');
  const std::string signature = "sha256=" + to_hex(*hmac_sha256("hook-secret", body));
  // A signed sender elsewhere, and an authenticated one on the flooder's own address.
  Client sender(port(), "127.0.0.2");
  auto signed_response =
      sender.request(post("/hooks/signed", body, {{"X-Signature", signature}}));
  ASSERT_TRUE(signed_response);
  EXPECT_EQ(signed_response->result(), http::status::accepted);
  Client bearer(port());
  auto bearer_response =
      bearer.request(post("/hooks/bearer", body, {{"Authorization", "Bearer tok"}}));
  ASSERT_TRUE(bearer_response);
  EXPECT_EQ(bearer_response->result(), http::status::accepted);
  // The flood's bodies, finished: the one that had the flooder's room is checked and refused
  // (never signed); the others were refused room and get 503.
  int unauthorized = 0;
  int busy = 0;
  for (auto& client : flood) {
    client->send(std::string(996, 'y'));
    auto response = client->read();
    ASSERT_TRUE(response);
    if (response->result() == http::status::unauthorized) ++unauthorized;
    if (response->result() == http::status::service_unavailable) ++busy;
  }
  EXPECT_EQ(unauthorized, 1);
  EXPECT_EQ(busy, 19);
  EXPECT_EQ(sink_.events().size(), 2u);
}

TEST_F(WebhookServerTest, StartNamesTheAddressItCannotListenOn) {
  start_with_orders();
  config::ServerConfig server;
  server.listen = {"127.0.0.1", port()};
  asio::io_context io;
  WebhookServer second(io, server, {});
  try {
    second.start();
    FAIL() << "a second server listened on a port in use";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("127.0.0.1:" + std::to_string(port())),
              std::string::npos)
        << error.what();
  }
}

TEST(WebhookServer, RefusesTwoRoutesWithOnePath) {
  asio::io_context io;
  FakeSink sink;
  EXPECT_THROW(
      WebhookServer(io, {}, {{"a", http_source("/x"), &sink}, {"b", http_source("/x"), &sink}}),
      std::invalid_argument);
}

}  // namespace
}  // namespace triggerd
