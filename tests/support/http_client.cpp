// The only Beast translation unit of the test support (Beast is slow to compile).
#include "tests/support/http_client.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cctype>

namespace triggerd::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

HttpResponse failure(std::string what, const beast::error_code& error) {
  HttpResponse response;
  response.error = what + ": " + error.message();
  return response;
}

}  // namespace

std::string HttpResponse::header(std::string_view name) const {
  auto it = headers.find(lower(name));
  return it == headers.end() ? "" : it->second;
}

class HttpConnection::Impl {
 public:
  Impl(std::uint16_t port, std::chrono::milliseconds timeout) : port_(port), socket_(io_) {
    beast::error_code error;
    socket_.connect(tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), port), error);
    if (error) {
      connect_error_ = error;
      return;
    }
    // Blocking reads and writes with a deadline: a hung server fails the test, not the run.
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  }

  HttpResponse request(std::string_view method, std::string_view target, std::string_view body) {
    if (connect_error_) return failure("connect to port " + std::to_string(port_), connect_error_);
    http::request<http::string_body> request;
    request.method_string(method);
    request.target(target);
    request.version(11);
    request.set(http::field::host, "127.0.0.1:" + std::to_string(port_));
    request.keep_alive(true);
    if (!body.empty() || method == "POST" || method == "PUT") request.body() = std::string(body);
    request.prepare_payload();

    beast::error_code error;
    http::write(socket_, request, error);
    if (error) return failure("write", error);
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    if (method == "HEAD") parser.skip(true);
    http::read(socket_, buffer_, parser, error);
    if (error) return failure("read", error);

    HttpResponse response;
    const auto& message = parser.get();
    response.status = static_cast<int>(message.result_int());
    response.body = message.body();
    response.keep_alive = message.keep_alive();
    for (const auto& field : message) {
      response.headers[lower(field.name_string())] = std::string(field.value());
    }
    return response;
  }

 private:
  std::uint16_t port_;
  asio::io_context io_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  beast::error_code connect_error_;
};

HttpConnection::HttpConnection(std::uint16_t port, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>(port, timeout)) {}
HttpConnection::~HttpConnection() = default;

HttpResponse HttpConnection::request(std::string_view method, std::string_view target,
                                     std::string_view body) {
  return impl_->request(method, target, body);
}

HttpResponse http_request(std::string_view method, std::uint16_t port, std::string_view target,
                          std::string_view body, std::chrono::milliseconds timeout) {
  return HttpConnection(port, timeout).request(method, target, body);
}

HttpResponse http_get(std::uint16_t port, std::string_view target) {
  return http_request("GET", port, target);
}

}  // namespace triggerd::testing
