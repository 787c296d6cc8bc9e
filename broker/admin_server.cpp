#include "broker/admin_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "broker/config_status.hpp"
#include "broker/health.hpp"
#include "connectors/http/webhook_auth.hpp"
#include "core/desired_replicas.hpp"
#include "core/http_parse_error.hpp"
#include "core/logging.hpp"
#include "core/metrics.hpp"
#include "core/net_names.hpp"
#include "core/tcp_server.hpp"
#include "core/time_format.hpp"

namespace triggerd {
namespace {

namespace json = boost::json;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// The read timeout also bounds how long an idle keep-alive connection is kept: Prometheus
// scrapes every 15-60 s and reconnects cheaply, while a slow or silent client must not hold
// a connection (and its memory) forever.
constexpr auto kReadTimeout = std::chrono::seconds(30);
constexpr auto kWriteTimeout = std::chrono::seconds(10);
// Every route is a GET; a body is read only to keep the connection in step, so keep it small.
constexpr std::uint64_t kMaxRequestBody = 64 * 1024;
// Bounds memory whatever a misbehaving client does; a scraper and a few humans need far less.
constexpr std::size_t kMaxConnections = 256;
constexpr std::string_view kTriggersPath = "/v1/triggers";
constexpr std::string_view kConfigPath = "/v1/config";
constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";
constexpr const char* kTextContentType = "text/plain; charset=utf-8";
constexpr const char* kJsonContentType = "application/json";

constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

Response make_response(const Request& request, http::status status, const char* content_type,
                       std::string body) {
  Response response(status, request.version());
  response.set(http::field::server, "triggerd/" TRIGGERD_VERSION);
  response.set(http::field::content_type, content_type);
  response.set(http::field::cache_control, "no-store");
  response.body() = std::move(body);
  return response;
}

Response json_response(const Request& request, http::status status, const json::value& body) {
  return make_response(request, status, kJsonContentType, json::serialize(body) + "\n");
}

Response json_error(const Request& request, http::status status, std::string message) {
  return json_response(request, status, json::object{{"error", std::move(message)}});
}

json::object trigger_json(const TriggerTelemetry& trigger) {
  // Read depth and in-flight once so that backlog agrees with the numbers shown next to it
  // even while a source thread updates the depth.
  const std::int64_t queue_depth = trigger.state.queue_depth();
  const std::int64_t inflight = trigger.state.inflight();
  return json::object{
      {"name", trigger.name},
      {"source", trigger.source_type()},
      {"function", trigger.function()},
      {"queue_depth", queue_depth},
      {"inflight", inflight},
      {"backlog", queue_depth + inflight},
      {"backlog_total", trigger.state.backlog_total()},
      {"desired_replicas", trigger.desired_replicas()},
      {"active", trigger.active()},
      {"delivered", trigger.delivered()},
      {"dead_lettered", trigger.dead_lettered()},
      {"dropped", trigger.dropped()},
  };
}

json::value time_json(std::optional<ConfigStatus::Time> time) {
  if (!time) return nullptr;
  return json::string(format_rfc3339(*time));
}

// Which file, which version of it and how the last reload went; never a value of the config.
json::object config_json(const ConfigStatus& status) {
  const ConfigStatus::LastReload& reload = status.last_reload;
  return json::object{
      {"file", status.file},
      {"checksum", status.checksum},
      {"loaded_at", time_json(status.loaded_at)},
      {"last_reload",
       json::object{
           {"at", time_json(reload.at)},
           {"result", reload_result_name(reload.result)},
           {"error", reload.error ? json::value(json::string(*reload.error)) : nullptr},
       }},
      {"watch", status.watch},
  };
}

}  // namespace

class AdminServer::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& io, Metrics& metrics, const Health& health,
       const ConfigStatus& config_status)
      : metrics_(metrics),
        health_(health),
        config_status_(config_status),
        log_(logging::get("admin")),
        // A connection or the accept loop that ends with an exception (none should) is a bug
        // to count in triggerd_internal_errors_total, as well as to log.
        listener_(io, "admin server", log_, kMaxConnections,
                  [&metrics](std::string_view) { metrics.internal_errors().count("admin"); }) {}

  void start(const config::HostPort& address) {
    listener_.listen(address, "server.admin_listen");
    log_->info("admin server listening on {}",
               config::HostPort{address.host, listener_.port()}.to_string());
    listener_.start([self = shared_from_this()](tcp::socket socket) {
      return self->serve(self, std::move(socket));
    });
  }

  std::uint16_t port() const { return listener_.port(); }

  void set_auth(std::optional<config::BearerAuth> auth) { auth_ = std::move(auth); }

  void stop() { listener_.stop(); }

 private:
  // The unnamed first parameter keeps the Impl alive for as long as the connection runs.
  asio::awaitable<void> serve(std::shared_ptr<Impl> /*self*/, tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    const TcpServer::OpenConnection open = listener_.track(stream.socket());
    beast::flat_buffer buffer;
    for (bool keep_alive = true; keep_alive && !listener_.stopped();) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(kMaxRequestBody);
      stream.expires_after(kReadTimeout);
      auto [read_error, read_bytes] = co_await http::async_read(stream, buffer, parser, kAsTuple);
      Response response;
      if (!read_error) {
        response = route(parser.get());
        keep_alive = parser.get().keep_alive();
        // A HEAD answer has no body; one sent anyway would be read as the next response.
        if (parser.get().method() == http::verb::head) response.body().clear();
      } else if (is_http_parse_error(read_error)) {
        // The stream is out of step after a bad request: answer, then close.
        const bool too_large = read_error == http::error::body_limit;
        Request request;
        response = json_error(
            request, too_large ? http::status::payload_too_large : http::status::bad_request,
            too_large ? "request body too large" : "bad request: " + read_error.message());
        keep_alive = false;
      } else {
        break;  // closed by the client, timed out, or cut by stop()
      }
      response.keep_alive(keep_alive && !listener_.stopped());
      response.prepare_payload();
      stream.expires_after(kWriteTimeout);
      auto [write_error, written_bytes] = co_await http::async_write(stream, response, kAsTuple);
      if (write_error) break;
      keep_alive = response.keep_alive();
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  Response route(const Request& request) {
    const std::string_view target = request.target();
    const std::string_view path = target.substr(0, target.find('?'));
    log_->debug("admin server: {} {}", request.method_string(), path);
    if (request.method() != http::verb::get) {
      Response response = json_error(request, http::status::method_not_allowed,
                                     "method not allowed: the admin API answers GET only");
      response.set(http::field::allow, "GET");
      return response;
    }
    if (path == "/livez") {
      // Answered from the event loop, so an answer at all means the loop runs.
      return make_response(request, http::status::ok, kTextContentType, "ok\n");
    }
    if (path == "/readyz") {
      if (health_.ready())
        return make_response(request, http::status::ok, kTextContentType, "ok\n");
      return make_response(request, http::status::service_unavailable, kTextContentType,
                           "not ready: " + health_.not_ready_reason() + "\n");
    }
    // The probes above stay open (a kubelet sends no token); the rest shows the configuration
    // and the scaling signals.
    if (auth_) {
      const auto header = request.find(http::field::authorization);
      const std::optional<std::string_view> authorization =
          header == request.end() ? std::nullopt
                                  : std::optional<std::string_view>(header->value());
      if (!bearer_token_matches(*auth_, authorization)) {
        log_->debug("admin server: {} refused: {} bearer token", path,
                    authorization ? "wrong" : "no");
        Response response = json_error(request, http::status::unauthorized,
                                       "unauthorized: this route needs the admin bearer token");
        response.set(http::field::www_authenticate, "Bearer realm=\"triggerd admin\"");
        return response;
      }
    }
    if (path == "/metrics") {
      return make_response(request, http::status::ok, kMetricsContentType, metrics_.serialize());
    }
    if (path == kTriggersPath) {
      json::array triggers;
      for (const auto& trigger : *metrics_.triggers()) triggers.push_back(trigger_json(*trigger));
      return json_response(request, http::status::ok, triggers);
    }
    if (path.starts_with(kTriggersPath) && path.size() > kTriggersPath.size() &&
        path[kTriggersPath.size()] == '/') {
      const std::string_view name = path.substr(kTriggersPath.size() + 1);
      if (const auto trigger = metrics_.find(name)) {
        return json_response(request, http::status::ok, trigger_json(*trigger));
      }
      return json_error(request, http::status::not_found,
                        // Only a valid name is echoed: an error body never carries bytes a
                        // client made up (invalid UTF-8, control characters).
                        config::is_valid_name(name) ? "no trigger named " + std::string(name)
                                                    : std::string("no such trigger"));
    }
    if (path == kConfigPath) {
      return json_response(request, http::status::ok, config_json(config_status_));
    }
    return json_error(request, http::status::not_found,
                      "not found; the admin API serves /metrics, /livez, /readyz, "
                      "/v1/triggers[/NAME] and /v1/config");
  }

  Metrics& metrics_;
  const Health& health_;
  const ConfigStatus& config_status_;
  std::optional<config::BearerAuth> auth_;
  std::shared_ptr<spdlog::logger> log_;
  TcpServer listener_;
};

AdminServer::AdminServer(boost::asio::io_context& io, Metrics& metrics, const Health& health,
                         const ConfigStatus& config_status)
    : impl_(std::make_shared<Impl>(io, metrics, health, config_status)) {}

AdminServer::~AdminServer() { impl_->stop(); }

void AdminServer::start(const config::HostPort& address) { impl_->start(address); }

std::uint16_t AdminServer::port() const { return impl_->port(); }

void AdminServer::set_auth(std::optional<config::BearerAuth> auth) {
  impl_->set_auth(std::move(auth));
}

void AdminServer::stop() { impl_->stop(); }

}  // namespace triggerd
