#pragma once
// A small blocking HTTP/1.1 client for tests. Failures (refused, reset, timed out) come back
// as a response with status 0 and `error` set, so that a test can assert on them. Every
// operation is bounded by the timeout: a server that hangs fails the test, not the run.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace triggerd::testing {

struct HttpResponse {
  int status = 0;  // 0: no response; see error
  std::string error;
  std::string body;
  std::map<std::string, std::string> headers;  // names in lower case
  bool keep_alive = false;

  // The header's value, or "" when absent. `name` in any case.
  std::string header(std::string_view name) const;
};

// Request headers beyond Host (and Content-Length, which follows the body). Nothing else is
// added: a request without a Content-Type here goes without one.
using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

constexpr auto kHttpTimeout = std::chrono::seconds(10);

// One request on a new connection to 127.0.0.1:port.
HttpResponse http_request(std::string_view method, std::uint16_t port, std::string_view target,
                          std::string_view body = "",
                          std::chrono::milliseconds timeout = kHttpTimeout);
HttpResponse http_request(std::string_view method, std::uint16_t port, std::string_view target,
                          std::string_view body, const HttpHeaders& headers,
                          std::chrono::milliseconds timeout = kHttpTimeout);
HttpResponse http_get(std::uint16_t port, std::string_view target);

// A keep-alive connection for several requests in a row (tests of connection reuse).
class HttpConnection {
 public:
  // `timeout` bounds the connect and then each request (its write and the whole answer).
  explicit HttpConnection(std::uint16_t port, std::chrono::milliseconds timeout = kHttpTimeout);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Sends on the open connection; fails (status 0) if the server has closed it, or if the
  // connection failed or timed out before (a timed-out exchange leaves it out of step).
  HttpResponse request(std::string_view method, std::string_view target, std::string_view body = "",
                       const HttpHeaders& headers = {});

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace triggerd::testing
