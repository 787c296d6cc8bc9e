#include "connectors/http/webhook_server.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "connectors/event_sink.hpp"
#include "connectors/http/body_budget.hpp"
#include "connectors/http/webhook_auth.hpp"
#include "connectors/http/webhook_event.hpp"
#include "core/http_parse_error.hpp"
#include "core/logging.hpp"
#include "core/net_names.hpp"
#include "core/tcp_server.hpp"
#include "core/text.hpp"

namespace triggerd {
namespace {

using Clock = std::chrono::steady_clock;
// buffer_body: the server decides where each body byte goes (and whether to read it at all)
// once it has seen the header, instead of Beast growing a string on its own.
using Parser = http::request_parser<http::buffer_body>;
using Response = http::response<http::string_body>;

constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
// After refusing a request whose body is still coming, the rest of it is read and thrown away
// for this long before the connection closes: closing with unread input makes the kernel
// send a reset, and a client then often loses the answer it was about to read.
constexpr auto kLingerTime = std::chrono::seconds(2);
// Bodies that are read only to be thrown away pass through a scratch buffer of this size.
constexpr std::size_t kDiscardChunk = 4096;
// The read buffer holds at most a header plus this much: the body goes straight to its string.
constexpr std::size_t kReadChunk = 8192;
// Bodies grow by this much as their bytes arrive, so that a slow client holds only what it
// has sent rather than what its Content-Length promised.
constexpr std::size_t kBodyGrowth = 64 * 1024;
constexpr const char* kJsonContentType = "application/json";
constexpr const char* kRetryAfterSeconds = "1";

// What a connection does once an answer is written.
enum class After { keep_alive, close, linger_close };

struct Route {
  std::string trigger;
  config::HttpSource source;
  EventSink* sink;
  std::shared_ptr<const void> sink_owner;  // WebhookRoute::sink_owner
  std::string allow;  // the Allow header of a 405
};

std::string json_body(std::string_view key, std::string_view value) {
  // append_json_string turns bytes that are not UTF-8 into U+FFFD: an id or message that
  // carries a client's bytes still makes valid JSON.
  std::string body = "{\"";
  body += key;
  body += "\":";
  logging::append_json_string(value, body);
  body += "}\n";
  return body;
}

Response make_response(unsigned version, http::status status, std::string body) {
  Response response(status, version);
  response.set(http::field::server, "triggerd/" TRIGGERD_VERSION);
  response.set(http::field::content_type, kJsonContentType);
  response.set(http::field::cache_control, "no-store");
  response.body() = std::move(body);
  return response;
}

Response error_response(unsigned version, http::status status, std::string_view message) {
  return make_response(version, status, json_body("error", message));
}



}  // namespace

class WebhookServer::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& io, config::ServerConfig server, std::vector<WebhookRoute> routes,
       WebhookLimits limits, TaskGroup::FailureCounter count_failure)
      : server_(std::move(server)),
        limits_(limits),
        // A single body of max_body_size must always fit, with the byte of slack that lets
        // the parser report a chunked body one byte too long.
        body_budget_(limits.max_buffered_body_bytes, server_.max_body_size + 1),
        log_(logging::get("webhook")),
        listener_(io, "webhook ingress", log_, limits.max_connections, std::move(count_failure)) {
    routes_ = make_routes(std::move(routes));
  }

  // A request already routed keeps its Route (and the sink's owner) until it is answered; the
  // next request on the connection finds the new routes.
  void set_routes(std::vector<WebhookRoute> routes) {
    auto next = make_routes(std::move(routes));
    routes_ = std::move(next);
    log_->info("webhook ingress: {} path(s)", routes_.size());
  }

  using Routes = std::map<std::string, std::shared_ptr<const Route>, std::less<>>;

  static Routes make_routes(std::vector<WebhookRoute> routes) {
    Routes made;
    for (WebhookRoute& route : routes) {
      if (route.sink == nullptr) {
        throw std::invalid_argument("webhook route of trigger " + route.trigger +
                                    " has no event sink");
      }
      std::string allow;
      for (const std::string& method : route.source.methods) {
        if (!allow.empty()) allow += ", ";
        allow += method;
      }
      const std::string path = route.source.path;
      auto entry = std::make_shared<const Route>(Route{std::move(route.trigger),
                                                       std::move(route.source), route.sink,
                                                       std::move(route.sink_owner),
                                                       std::move(allow)});
      if (!made.try_emplace(path, std::move(entry)).second) {
        throw std::invalid_argument("two webhook routes share the path " + path);
      }
    }
    return made;
  }

  void start() {
    listener_.listen(server_.listen, "server.listen");
    log_->info("webhook ingress listening on {} for {} path(s)",
               config::HostPort{server_.listen.host, listener_.port()}.to_string(), routes_.size());
    listener_.start([self = shared_from_this()](tcp::socket socket) {
      return self->serve(self, std::move(socket));
    });
  }

  std::uint16_t port() const { return listener_.port(); }
  void stop_accepting() { listener_.stop_accepting(); }
  void stop() { listener_.stop(); }

  WebhookStats stats() const {
    WebhookStats stats = stats_;
    stats.connections_refused = listener_.connections_refused();
    return stats;
  }
  void on_refused(WebhookServer::RefusalCounter counter) { count_refusal_ = std::move(counter); }
  std::size_t open_connections() const { return listener_.open_connections(); }

 private:
  // Every refused request is counted here: in stats() (4xx as rejected, 503 as busy) and
  // through the app's counter, by trigger (empty when no trigger's route was found) and status.
  void count_refused(const Route* route, int status) {
    ++(status == 503 ? stats_.busy : stats_.rejected);
    if (count_refusal_) {
      count_refusal_(route != nullptr ? std::string_view(route->trigger) : "", status);
    }
  }

  // The unnamed first parameter keeps the Impl alive for as long as the connection runs.
  asio::awaitable<void> serve(std::shared_ptr<Impl> /*self*/, tcp::socket socket) {
    beast::error_code ignored;
    // Answers are small and written whole; waiting to coalesce them only adds latency.
    socket.set_option(tcp::no_delay(true), ignored);
    beast::tcp_stream stream(std::move(socket));
    const TcpServer::OpenConnection open = listener_.track(stream.socket());
    beast::flat_buffer buffer(limits_.max_header_size + kReadChunk);
    // Once per connection: bodies not authenticated yet are budgeted by the peer's address.
    beast::error_code no_peer;
    const asio::ip::address peer = stream.socket().remote_endpoint(no_peer).address();
    After after = After::keep_alive;
    for (bool first = true; after == After::keep_alive && !stopped(); first = false) {
      after = co_await serve_request(stream, buffer, peer, first);
    }
    if (stopped()) co_return;
    if (after == After::linger_close) co_await linger(stream);
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.close();
  }

  // Reads one request and answers it.
  asio::awaitable<After> serve_request(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                       const asio::ip::address& peer, bool first) {
    // A new connection gets no idle allowance (it was opened to send): its first request's
    // deadline starts now. Between requests the connection may idle, and the deadline starts
    // with the next request's first byte.
    Clock::time_point deadline = Clock::now() + limits_.request_timeout;
    if (buffer.size() == 0) {
      if (first) {
        stream.expires_at(deadline);
      } else {
        stream.expires_after(limits_.idle_timeout);
      }
      auto [error, bytes] = co_await stream.async_read_some(buffer.prepare(kReadChunk), kAsTuple);
      if (error || stopped()) co_return After::close;  // closed, idle too long, or stop()
      buffer.commit(bytes);
      if (!first) deadline = Clock::now() + limits_.request_timeout;
    }

    Parser parser;
    parser.header_limit(
        static_cast<std::uint32_t>(std::min<std::size_t>(limits_.max_header_size, UINT32_MAX)));
    // No body limit while reading the header: Beast would refuse a large Content-Length
    // before the route is known, and an unknown path should hear 404, not 413.
    parser.body_limit(boost::none);
    stream.expires_at(deadline);
    auto [header_error, header_bytes] =
        co_await http::async_read_header(stream, buffer, parser, kAsTuple);
    if (stopped()) co_return After::close;
    if (header_error) co_return co_await refuse_unreadable(stream, header_error);

    const auto& request = parser.get();
    const unsigned version = request.version();
    const bool body_pending = !parser.is_done();
    const std::string_view target = request.target();
    // The query is not part of the route, and is never logged: some senders put tokens there.
    const std::string_view path = target.substr(0, target.find_first_of("?#"));

    if (draining()) {
      const auto draining_route = routes_.find(path);
      count_refused(draining_route == routes_.end() ? nullptr : draining_route->second.get(), 503);
      Response response =
          error_response(version, http::status::service_unavailable, "shutting down; retry later");
      response.set(http::field::retry_after, kRetryAfterSeconds);
      co_return co_await answer(stream, std::move(response),
                                body_pending ? After::linger_close : After::close);
    }
    const auto found = routes_.find(path);
    if (found == routes_.end()) {
      count_refused(nullptr, 404);
      log_->debug("webhook: {} {}: no such path", request.method_string(), path);
      co_return co_await refuse(
          stream, buffer, parser, deadline,
          error_response(version, http::status::not_found, "no webhook at this path"));
    }
    const std::shared_ptr<const Route> routed = found->second;  // held across the awaits
    const Route& route = *routed;
    const auto& methods = route.source.methods;
    if (std::find(methods.begin(), methods.end(), request.method_string()) == methods.end()) {
      count_refused(&route, 405);
      log_->debug("webhook {}: method {} not allowed", route.trigger, request.method_string());
      Response response = error_response(version, http::status::method_not_allowed,
                                         "method not allowed; this webhook takes " + route.allow);
      response.set(http::field::allow, route.allow);
      co_return co_await refuse(stream, buffer, parser, deadline, std::move(response));
    }
    const WebhookAuthHeaders auth_headers = auth_headers_of(request, route);
    // A bearer token needs no body: check it before reading one. An unauthenticated client
    // also learns nothing about the trigger's load.
    if (route.source.auth && !webhook_auth_needs_body(*route.source.auth) &&
        !webhook_auth_passes(*route.source.auth, auth_headers, {})) {
      co_return co_await refuse(stream, buffer, parser, deadline, unauthorized(version, route));
    }
    const boost::optional<std::uint64_t> content_length = parser.content_length();
    if (content_length && *content_length > server_.max_body_size) {
      count_refused(&route, 413);
      log_->debug("webhook {}: body of {} bytes refused", route.trigger, *content_length);
      co_return co_await refuse(stream, buffer, parser, deadline, too_large(version));
    }
    if (!route.sink->has_room()) {
      log_->debug("webhook {}: trigger full, answering 503", route.trigger);
      co_return co_await refuse(stream, buffer, parser, deadline,
                                busy(version, route, "trigger is at max_inflight"));
    }

    // The body. It grows as its bytes arrive, each step taken from the shared budget; a body
    // not authenticated yet (an open route, or a signature not checked yet) from the part of
    // it that such bodies, and those of its peer address, may use.
    BodyBudget::Share budget_share(
        body_budget_,
        route.source.auth.has_value() && !webhook_auth_needs_body(*route.source.auth), peer);
    std::string body;
    auto grow_body = [&] {
      // With Content-Length, grow to exactly that; chunked, up to one byte over the limit, so
      // that the parser always has room to hit body_limit rather than stall.
      const std::uint64_t cap = content_length ? *content_length : server_.max_body_size + 1;
      const auto growth =
          static_cast<std::size_t>(std::min<std::uint64_t>(kBodyGrowth, cap - body.size()));
      if (!budget_share.grow(growth)) return false;
      body.resize(body.size() + growth);
      return true;
    };
    if (body_pending && !grow_body()) {
      log_->debug("webhook {}: body budget spent, answering 503", route.trigger);
      co_return co_await refuse(stream, buffer, parser, deadline,
                                busy(version, route, "too many request bodies in flight"));
    }
    if (body_pending) {
      if (version >= 11 && equals_ignoring_case(request[http::field::expect], "100-continue")) {
        // Senders that asked (curl does for large bodies) wait for this before the body.
        http::response<http::empty_body> go_on(http::status::continue_, version);
        stream.expires_after(limits_.write_timeout);
        auto [error, bytes] = co_await http::async_write(stream, go_on, kAsTuple);
        if (error || stopped()) co_return After::close;
      }
      parser.body_limit(server_.max_body_size);
      std::size_t filled = 0;
      while (!parser.is_done()) {
        if (filled == body.size() && !grow_body()) {
          // Part of the body is in already: the connection cannot be kept in step cheaply.
          log_->debug("webhook {}: body budget spent, answering 503", route.trigger);
          co_return co_await answer(
              stream, busy(version, route, "too many request bodies in flight"),
              After::linger_close);
        }
        auto& window = parser.get().body();
        window.data = body.data() + filled;
        window.size = body.size() - filled;
        stream.expires_at(deadline);
        auto [error, bytes] = co_await http::async_read(stream, buffer, parser, kAsTuple);
        if (stopped()) co_return After::close;
        filled = body.size() - parser.get().body().size;
        parser.get().body().data = nullptr;
        if (error == http::error::need_buffer) continue;
        if (error == http::error::body_limit) {
          count_refused(&route, 413);
          log_->debug("webhook {}: chunked body over the limit", route.trigger);
          co_return co_await answer(stream, too_large(version), After::linger_close);
        }
        if (error) co_return co_await refuse_unreadable(stream, error);
      }
      body.resize(filled);
    }

    if (route.source.auth && webhook_auth_needs_body(*route.source.auth) &&
        !webhook_auth_passes(*route.source.auth, auth_headers, body)) {
      co_return co_await answer(stream, unauthorized(version, route), next_after(request));
    }
    std::vector<WebhookHeader> headers;
    headers.reserve(16);
    for (const auto& field : request) headers.push_back({field.name_string(), field.value()});
    WebhookEventResult mapped = make_webhook_event({route.source.path, headers, std::move(body)},
                                                   std::chrono::system_clock::now());
    if (!mapped.ok()) {
      count_refused(&route, 400);
      log_->debug("webhook {}: bad CloudEvent: {}", route.trigger, mapped.error);
      co_return co_await answer(stream,
                                error_response(version, http::status::bad_request, mapped.error),
                                next_after(request));
    }
    std::string id = mapped.event.id;
    if (!route.sink->try_submit(mapped.event)) {
      log_->debug("webhook {}: trigger filled up while the body was read, answering 503",
                  route.trigger);
      co_return co_await answer(stream, busy(version, route, "trigger is at max_inflight"),
                                next_after(request));
    }
    ++stats_.accepted;
    log_->debug("webhook {}: event {} accepted", route.trigger, id);
    co_return co_await answer_accepted(stream, version, id, next_after(request));
  }

  template <typename Request>
  WebhookAuthHeaders auth_headers_of(const Request& request, const Route& route) const {
    return webhook_auth_headers(
        route.source.auth, [&](std::string_view name) -> std::optional<std::string_view> {
          const auto it = request.find(name);
          if (it == request.end()) return std::nullopt;
          return it->value();
        });
  }

  // Once a whole request was read, the connection stays open if the client wants it to.
  template <typename Request>
  After next_after(const Request& request) const {
    return request.keep_alive() && !draining() ? After::keep_alive : After::close;
  }

  Response unauthorized(unsigned version, const Route& route) {
    count_refused(&route, 401);
    log_->debug("webhook {}: authentication failed", route.trigger);
    Response response = error_response(version, http::status::unauthorized, "unauthorized");
    if (std::holds_alternative<config::BearerAuth>(*route.source.auth)) {
      response.set(http::field::www_authenticate, "Bearer");  // RFC 6750, section 3
    }
    return response;
  }

  Response too_large(unsigned version) const {
    return error_response(version, http::status::payload_too_large,
                          "request body is larger than server.max_body_size (" +
                              std::to_string(server_.max_body_size) + " bytes)");
  }

  Response busy(unsigned version, const Route& route, std::string_view why) {
    count_refused(&route, 503);
    Response response = error_response(version, http::status::service_unavailable,
                                       std::string(why) + "; retry later");
    response.set(http::field::retry_after, kRetryAfterSeconds);
    return response;
  }

  // Answers a request refused before its body was read. A body within max_body_size is read
  // first and thrown away (through a small scratch buffer: nothing is kept), so that the
  // connection stays in step for the next request. A body that is too large, or that the
  // client holds back until it hears 100 Continue, is not waited for: the answer goes out
  // with Connection: close.
  asio::awaitable<After> refuse(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                Parser& parser, Clock::time_point deadline, Response response) {
    const auto& request = parser.get();
    if (parser.is_done()) {
      co_return co_await answer(stream, std::move(response), next_after(request));
    }
    const boost::optional<std::uint64_t> content_length = parser.content_length();
    if ((content_length && *content_length > server_.max_body_size) ||
        equals_ignoring_case(request[http::field::expect], "100-continue")) {
      co_return co_await answer(stream, std::move(response), After::linger_close);
    }
    parser.body_limit(server_.max_body_size);
    std::vector<char> scratch(kDiscardChunk);
    while (!parser.is_done()) {
      parser.get().body().data = scratch.data();
      parser.get().body().size = scratch.size();
      stream.expires_at(deadline);
      auto [error, bytes] = co_await http::async_read(stream, buffer, parser, kAsTuple);
      if (stopped()) co_return After::close;
      parser.get().body().data = nullptr;
      if (error == http::error::need_buffer) continue;
      if (error == http::error::body_limit || is_http_parse_error(error)) {
        co_return co_await answer(stream, std::move(response), After::linger_close);
      }
      if (error) co_return After::close;
    }
    co_return co_await answer(stream, std::move(response), next_after(request));
  }

  // A request that could not be read: answered when an answer makes sense, else just closed.
  asio::awaitable<After> refuse_unreadable(beast::tcp_stream& stream,
                                           const beast::error_code& error) {
    if (error == http::error::header_limit || error == http::error::buffer_overflow) {
      count_refused(nullptr, 431);
      co_return co_await answer(
          stream,
          error_response(
              11, http::status::request_header_fields_too_large,
              "request header larger than " + std::to_string(limits_.max_header_size) + " bytes"),
          After::linger_close);
    }
    if (is_http_parse_error(error)) {
      count_refused(nullptr, 400);
      log_->debug("webhook: malformed request: {}", error.message());
      co_return co_await answer(
          stream, error_response(11, http::status::bad_request, "malformed HTTP request"),
          After::linger_close);
    }
    // Closed by the client, cut in the middle, or too slow: the stream is gone (Beast
    // closes it on timeout), nothing can be answered.
    log_->debug("webhook: connection ended while reading a request: {}", error.message());
    co_return After::close;
  }

  asio::awaitable<After> answer(beast::tcp_stream& stream, Response response, After after) {
    response.keep_alive(after == After::keep_alive && !draining());
    response.prepare_payload();
    stream.expires_after(limits_.write_timeout);
    auto [error, bytes] = co_await http::async_write(stream, response, kAsTuple);
    if (error || stopped()) co_return After::close;
    if (after == After::keep_alive && !response.keep_alive()) co_return After::close;
    co_return after;
  }

  // The 202 of an accepted event, the answer to nearly every request: the same head and body as
  // answer(make_response(...)) gives, formatted straight into one string and written with one
  // write. Beast's serializer walks a nest of buffer views for the few header fields, which
  // cost more than the bytes (about 7 % of triggerd's CPU per webhook event).
  asio::awaitable<After> answer_accepted(beast::tcp_stream& stream, unsigned version,
                                         std::string_view id, After after) {
    const bool keep_alive = after == After::keep_alive && !draining();
    std::string text;
    text.reserve(192 + id.size());
    text.append(version == 10 ? "HTTP/1.0" : "HTTP/1.1");
    text.append(" 202 Accepted\r\nServer: triggerd/" TRIGGERD_VERSION
                "\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n");
    // Connection only where the version's default is not what happens.
    if (version == 10 && keep_alive) text.append("Connection: keep-alive\r\n");
    if (version != 10 && !keep_alive) text.append("Connection: close\r\n");
    const std::string body = json_body("id", id);
    text.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n");
    text.append(body);
    stream.expires_after(limits_.write_timeout);
    auto [error, bytes] = co_await asio::async_write(stream, asio::buffer(text), kAsTuple);
    if (error || stopped()) co_return After::close;
    if (after == After::keep_alive && !keep_alive) co_return After::close;
    co_return after;
  }

  // Reads and drops what the client still sends, for a short while, before closing.
  asio::awaitable<void> linger(beast::tcp_stream& stream) {
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    std::vector<char> scratch(kDiscardChunk);
    const Clock::time_point until = Clock::now() + kLingerTime;
    for (;;) {
      stream.expires_at(until);
      auto [error, bytes] =
          co_await stream.async_read_some(asio::buffer(scratch.data(), scratch.size()), kAsTuple);
      if (error || stopped()) co_return;
    }
  }

  bool draining() const { return listener_.draining(); }
  bool stopped() const { return listener_.stopped(); }

  const config::ServerConfig server_;
  const WebhookLimits limits_;
  Routes routes_;
  BodyBudget body_budget_;
  std::shared_ptr<spdlog::logger> log_;
  TcpServer listener_;
  WebhookStats stats_;  // but connections_refused, which listener_ counts
  WebhookServer::RefusalCounter count_refusal_;
};

WebhookServer::WebhookServer(boost::asio::io_context& io, config::ServerConfig server,
                             std::vector<WebhookRoute> routes, WebhookLimits limits,
                             TaskGroup::FailureCounter count_failure)
    : impl_(std::make_shared<Impl>(io, std::move(server), std::move(routes), limits,
                                   std::move(count_failure))) {}

WebhookServer::~WebhookServer() { impl_->stop(); }

void WebhookServer::start() { impl_->start(); }

std::uint16_t WebhookServer::port() const { return impl_->port(); }

void WebhookServer::stop_accepting() { impl_->stop_accepting(); }

void WebhookServer::stop() { impl_->stop(); }

void WebhookServer::set_routes(std::vector<WebhookRoute> routes) {
  impl_->set_routes(std::move(routes));
}

WebhookStats WebhookServer::stats() const { return impl_->stats(); }
void WebhookServer::on_refused(RefusalCounter counter) { impl_->on_refused(std::move(counter)); }

std::size_t WebhookServer::open_connections() const { return impl_->open_connections(); }

}  // namespace triggerd
