#pragma once
// The webhook ingress on server.listen (SPEC section 4): each http trigger owns its path, and
// a request there becomes an event in that trigger's sink, answered 202 {"id": ...} once the
// sink took it. HTTP/1.1 with keep-alive.
//
// Memory stays bounded whatever clients do: headers are capped, a body is refused before it
// is read when Content-Length is too large or the trigger has no room, chunked bodies are cut
// at the limit, the bodies being read share one byte budget, and so do connections.
//
// Beast stays inside webhook_server.cpp (a Beast translation unit takes long to compile).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "core/task_group.hpp"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace triggerd {

class EventSink;

// One http trigger: the path it owns and where its events go.
struct WebhookRoute {
  std::string trigger;        // the trigger's name, for logs
  config::HttpSource source;  // path, methods, auth
  EventSink* sink = nullptr;  // not owned: kept alive by sink_owner, or else by the caller
  // Held by every request routed to the sink until it is answered, so that a reload that
  // takes the route away does not pull the sink from under a request half read. May be null
  // when the sink outlives the server.
  std::shared_ptr<const void> sink_owner;
};

struct WebhookLimits {
  // Request line and headers together; beyond it: 431.
  std::size_t max_header_size = 16 * 1024;
  // From the first byte of a request to its last (slow clients, slowloris); beyond it the
  // connection is closed. A new connection's first request counts from the accept.
  std::chrono::milliseconds request_timeout = std::chrono::seconds(30);
  // How long a keep-alive connection may wait for its next request.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
  // Writing one answer.
  std::chrono::milliseconds write_timeout = std::chrono::seconds(10);
  // Beyond it a new connection is accepted and closed at once.
  std::size_t max_connections = 4096;
  // Bytes of request bodies being read at one time, all connections together (raised to
  // max_body_size if that is larger). Beyond it a request gets 503, like a full trigger:
  // without it, every connection could hold a body of max_body_size at once. Bodies not
  // authenticated yet get half of it, an eighth of that per peer address (body_budget.hpp).
  std::uint64_t max_buffered_body_bytes = 64 * 1024 * 1024;
};

// What the server answered, for metrics and tests. Counted since start().
struct WebhookStats {
  std::uint64_t accepted = 0;             // 202: the event is in the sink
  std::uint64_t rejected = 0;             // 4xx: the request was wrong (bad path, auth, ...)
  std::uint64_t busy = 0;                 // 503: the trigger was full, or draining
  std::uint64_t connections_refused = 0;  // closed at once: max_connections reached
};

class WebhookServer {
 public:
  // Throws std::invalid_argument when two routes share a path or a route has no sink (the
  // config loader refuses both; this guards the wiring). Nothing listens before start().
  // `count_failure` counts a connection's coroutine that failed (it is logged either way).
  WebhookServer(boost::asio::io_context& io, config::ServerConfig server,
                std::vector<WebhookRoute> routes, WebhookLimits limits = {},
                TaskGroup::FailureCounter count_failure = nullptr);
  ~WebhookServer();
  WebhookServer(const WebhookServer&) = delete;
  WebhookServer& operator=(const WebhookServer&) = delete;

  // Binds server.listen (port 0 picks a free port) and starts accepting on the io_context.
  // Throws std::runtime_error naming the address when it cannot listen. Start-up only.
  void start();

  // The bound port, after start(); the one chosen when asked for port 0.
  std::uint16_t port() const;

  // The first step of a drain: stops listening (new connections are refused by the OS), and
  // every request that still arrives on an open connection gets 503 with Retry-After and
  // Connection: close, so that the sender retries against another replica. Idempotent.
  void stop_accepting();

  // A reload: the paths served from now on (same rules as the constructor's). Requests already
  // routed finish with the route they had.
  void set_routes(std::vector<WebhookRoute> routes);

  // Closes the listener and every connection, cutting requests and answers in progress.
  // Idempotent; the io_context can then run out of work.
  void stop();

  WebhookStats stats() const;

  // Called for every request refused with an HTTP status (4xx, 503), with the trigger whose
  // path it was for (empty when no trigger owns the path, or the request could not be read).
  using RefusalCounter = std::function<void(std::string_view trigger, int status)>;
  void on_refused(RefusalCounter counter);
  std::size_t open_connections() const;

  // These and every method above run on the io_context's thread (or before it runs).

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;  // shared with the connection coroutines that use it
};

}  // namespace triggerd
