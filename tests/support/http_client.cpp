// The only Beast translation unit of the test support (Beast is slow to compile).
//
// Blocking on the outside, asynchronous inside: each operation runs on a private io_context
// until it completes or its deadline passes. Blocking Asio calls cannot be bounded (they
// poll without a timeout once the socket returns EAGAIN, so SO_RCVTIMEO does not help).
#include "tests/support/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "core/net_names.hpp"
#include "core/text.hpp"

namespace triggerd::testing {
namespace {

using Clock = std::chrono::steady_clock;

HttpResponse failure(std::string what) {
  HttpResponse response;
  response.error = std::move(what);
  return response;
}

}  // namespace

std::string HttpResponse::header(std::string_view name) const {
  auto it = headers.find(to_ascii_lower(name));
  return it == headers.end() ? "" : it->second;
}

class HttpConnection::Impl {
 public:
  Impl(std::uint16_t port, std::chrono::milliseconds timeout)
      : port_(port), timeout_(timeout), socket_(io_) {
    beast::error_code error;
    bool done = false;
    socket_.async_connect(tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), port),
                          [&](const beast::error_code& result) {
                            error = result;
                            done = true;
                          });
    const std::string what = "connect to port " + std::to_string(port_);
    if (!run_until(done, Clock::now() + timeout_)) {
      broken_ = what + ": timed out";
    } else if (error) {
      broken_ = what + ": " + error.message();
    }
  }

  HttpResponse request(std::string_view method, std::string_view target, std::string_view body,
                       const HttpHeaders& headers) {
    if (!broken_.empty()) return failure(broken_);
    const Clock::time_point deadline = Clock::now() + timeout_;
    http::request<http::string_body> request;
    request.method_string(method);
    request.target(target);
    request.version(11);
    request.set(http::field::host, "127.0.0.1:" + std::to_string(port_));
    request.keep_alive(true);
    for (const auto& [name, value] : headers) request.insert(name, value);
    if (!body.empty() || method == "POST" || method == "PUT") request.body() = std::string(body);
    request.prepare_payload();

    beast::error_code error;
    bool done = false;
    http::async_write(socket_, request, [&](const beast::error_code& result, std::size_t) {
      error = result;
      done = true;
    });
    if (!run_until(done, deadline)) return fail("write: timed out");
    if (error) return fail("write: " + error.message());

    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    if (method == "HEAD") parser.skip(true);
    done = false;
    http::async_read(socket_, buffer_, parser, [&](const beast::error_code& result, std::size_t) {
      error = result;
      done = true;
    });
    if (!run_until(done, deadline)) return fail("read: timed out");
    if (error) return fail("read: " + error.message());

    HttpResponse response;
    const auto& message = parser.get();
    response.status = static_cast<int>(message.result_int());
    response.body = message.body();
    response.keep_alive = message.keep_alive();
    for (const auto& field : message) {
      response.headers[to_ascii_lower(field.name_string())] = std::string(field.value());
    }
    return response;
  }

 private:
  // Runs the pending operation's handler until it has set `done` or `deadline` passes. On the
  // deadline the socket is closed, and the aborted handler still runs before this returns:
  // it refers to the caller's locals.
  bool run_until(const bool& done, Clock::time_point deadline) {
    io_.restart();
    while (!done && Clock::now() < deadline) {
      if (io_.run_one_until(deadline) == 0 && io_.stopped()) break;
    }
    if (done) return true;
    beast::error_code ignored;
    socket_.close(ignored);
    io_.restart();
    io_.run();
    return false;
  }

  // A failed exchange leaves the connection out of step: later requests fail at once.
  HttpResponse fail(std::string what) {
    broken_ = "connection unusable after: " + what;
    beast::error_code ignored;
    socket_.close(ignored);
    return failure(std::move(what));
  }

  std::uint16_t port_;
  std::chrono::milliseconds timeout_;
  asio::io_context io_{1};
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  std::string broken_;  // why the connection cannot carry a request; empty while it can
};

HttpConnection::HttpConnection(std::uint16_t port, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>(port, timeout)) {}
HttpConnection::~HttpConnection() = default;

HttpResponse HttpConnection::request(std::string_view method, std::string_view target,
                                     std::string_view body, const HttpHeaders& headers) {
  return impl_->request(method, target, body, headers);
}

HttpResponse http_request(std::string_view method, std::uint16_t port, std::string_view target,
                          std::string_view body, std::chrono::milliseconds timeout) {
  return HttpConnection(port, timeout).request(method, target, body);
}

HttpResponse http_request(std::string_view method, std::uint16_t port, std::string_view target,
                          std::string_view body, const HttpHeaders& headers,
                          std::chrono::milliseconds timeout) {
  return HttpConnection(port, timeout).request(method, target, body, headers);
}

HttpResponse http_get(std::uint16_t port, std::string_view target) {
  return http_request("GET", port, target);
}

}  // namespace triggerd::testing
