#pragma once
// A small blocking HTTP/1.1 client for tests. Failures (refused, reset, timed out) come back
// as a response with status 0 and `error` set, so that a test can assert on them.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

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

constexpr auto kHttpTimeout = std::chrono::seconds(10);

// One request on a new connection to 127.0.0.1:port.
HttpResponse http_request(std::string_view method, std::uint16_t port, std::string_view target,
                          std::string_view body = "",
                          std::chrono::milliseconds timeout = kHttpTimeout);
HttpResponse http_get(std::uint16_t port, std::string_view target);

// A keep-alive connection for several requests in a row (tests of connection reuse).
class HttpConnection {
 public:
  explicit HttpConnection(std::uint16_t port, std::chrono::milliseconds timeout = kHttpTimeout);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Sends on the open connection; fails (status 0) if the server has closed it.
  HttpResponse request(std::string_view method, std::string_view target,
                       std::string_view body = "");

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace triggerd::testing
