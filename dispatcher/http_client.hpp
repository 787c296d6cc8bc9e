#pragma once
// The HTTP side of a delivery: one FunctionClient per endpoint (a function, or an http dead
// letter), owning a keep-alive connection pool and the endpoint's concurrency limit.
//
// Beast stays inside http_client.cpp (it costs seconds per translation unit to compile); this
// header is all the rest of triggerd needs.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "broker/event.hpp"
#include "config/config.hpp"
#include "dispatcher/call_result.hpp"
#include "dispatcher/request_head.hpp"

namespace triggerd {

// Where and how to POST: what a function's config says, or what a dead letter needs.
struct HttpEndpoint {
  std::string name;  // for logs: the function's name, or "dead-letter"
  config::HttpUrl url;
  config::Duration timeout{30'000};
  int max_concurrency = 100;
  std::vector<std::pair<std::string, config::Secret>> headers;  // added to every request

  static HttpEndpoint for_function(const config::Function& function);
};

class FunctionClient {
 public:
  FunctionClient(boost::asio::any_io_executor executor, HttpEndpoint endpoint);
  FunctionClient(boost::asio::any_io_executor executor, const config::Function& function);
  // Every post() must have finished first.
  ~FunctionClient();
  FunctionClient(const FunctionClient&) = delete;
  FunctionClient& operator=(const FunctionClient&) = delete;

  // One attempt: waits (FIFO) for one of the endpoint's max_concurrency slots, then POSTs
  // `event` in CloudEvents binary mode with `extra_headers` added (e.g. ce-trigger, ce-attempt)
  // over a pooled keep-alive connection, or a new one. The endpoint's timeout covers connect,
  // write and the whole answer. A pooled connection that turns out to be closed by the server
  // before any answer byte arrived is replaced by a fresh one once, within the same attempt.
  //
  // Never throws. Ends promptly with kind `cancelled` on a terminal cancellation of the calling
  // coroutine, whether waiting for a slot or mid-request. `event` and `extra_headers` must stay
  // valid until it completes.
  boost::asio::awaitable<CallResult> post(const Event& event,
                                          std::span<const ExtraHeader> extra_headers);

  // Closes the idle pooled connections; connections still in use are closed when their request
  // ends instead of going back to the pool. Further posts still work, without keep-alive.
  void stop();

  const HttpEndpoint& endpoint() const;
  std::size_t idle_connections() const;
  std::uint64_t connections_opened() const;  // since construction, for tests and debugging

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace triggerd
