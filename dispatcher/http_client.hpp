#pragma once
// The HTTP side of a delivery: one FunctionClient per endpoint (a function, or an http dead
// letter), owning a keep-alive connection pool and the endpoint's concurrency limit.
//
// An attempt is a FunctionCall that the caller owns and the client drives with completion
// handlers, not a coroutine: the dispatcher keeps one per event in flight and reuses it, so an
// attempt allocates no frames of its own (coroutine frames and their bookkeeping were most of
// the cost of a delivery). post() is the coroutine form, for callers that are coroutines anyway.
//
// Beast stays inside http_client.cpp (it costs seconds per translation unit to compile); this
// header is all the rest of triggerd needs.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/event.hpp"
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
  TlsClientSettings tls;  // for an https url

  static HttpEndpoint for_function(const config::Function& function);
};

// One attempt to POST an event, owned by the caller. It may be started again once it has ended.
class FunctionCall {
 public:
  // What to send, set before FunctionClient::start() and valid until the call ends: an event
  // in CloudEvents binary mode, or, when request_event is null, `request_body` as it is with
  // `request_content_type` (a batch, already encoded). `extra_headers` go with either.
  const Event* request_event = nullptr;
  std::string_view request_body;
  std::string_view request_content_type;
  std::span<const ExtraHeader> extra_headers;
  // Keep up to this many bytes of the answer's body in result().body (a batch's per-event
  // statuses); 0: the body is read past and dropped, as for a single event.
  std::size_t keep_answer_body = 0;

  // How the call ended: valid in on_call_done().
  const CallResult& result() const { return result_; }

 protected:
  FunctionCall() = default;
  virtual ~FunctionCall() = default;
  FunctionCall(const FunctionCall&) = delete;
  FunctionCall& operator=(const FunctionCall&) = delete;

  // The call ended. Runs on the executor's thread, never inside start() or cancel(). The call
  // may be started again, or destroyed, from here.
  virtual void on_call_done() = 0;

 private:
  friend class FunctionClient;
  // ending: cancelled while waiting for a slot, on_call_done() posted.
  enum class Stage : std::uint8_t { idle, waiting_for_slot, connecting, exchanging, ending };

  // The keep-alive connection a call is using, taken from the client's pool or opened for it,
  // and given back or closed when the call is done with it. Defined in http_client.cpp, the
  // only place that needs Beast; hence the deleter, so that this header can destroy one.
  struct Connection;
  struct ConnectionDeleter {
    void operator()(Connection* connection) const noexcept;
  };
  using ConnectionPtr = std::unique_ptr<Connection, ConnectionDeleter>;

  CallResult result_;
  Stage stage_ = Stage::idle;
  bool cancelled_ = false;       // cancel() came while it was under way
  bool timed_out_ = false;       // the endpoint's timeout passed
  bool reused_ = false;          // the connection came from the pool
  bool replaced_stale_ = false;  // a pooled connection turned out closed and was replaced once
  bool answer_started_ = false;  // at least one byte of an answer arrived
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point deadline_;
  ConnectionPtr connection_;             // while the call uses one
  std::size_t watch_index_ = 0;          // in the client's list of calls under way
  FunctionCall* next_waiter_ = nullptr;  // the client's FIFO of calls waiting for a slot
};

class FunctionClient {
 public:
  FunctionClient(boost::asio::any_io_executor executor, HttpEndpoint endpoint);
  FunctionClient(boost::asio::any_io_executor executor, const config::Function& function);
  // Every call must have ended first.
  ~FunctionClient();
  FunctionClient(const FunctionClient&) = delete;
  FunctionClient& operator=(const FunctionClient&) = delete;

  // One attempt: waits (FIFO) for one of the endpoint's max_concurrency slots, then POSTs
  // `call.request_event` in CloudEvents binary mode with `call.extra_headers` added (e.g.
  // ce-trigger, ce-attempt) over a pooled keep-alive connection, or a new one (for an https
  // url, TLS with the last session resumed when the server allows). The endpoint's timeout
  // covers connect, handshake, write and the whole answer. A pooled connection that turns out
  // to be closed by the server before any answer byte arrived is replaced by a fresh one once,
  // within the same attempt. Ends with call.on_call_done(); `call` must not be in progress.
  void start(FunctionCall& call);
  // Ends a call in progress promptly with kind `cancelled`, whether it waits for a slot or is
  // mid-request (its connection is closed). Does nothing to a call that is not in progress.
  void cancel(FunctionCall& call);

  // start() as a coroutine. Never throws. Ends promptly with kind `cancelled` on a terminal
  // cancellation of the calling coroutine. `event` and `extra_headers` must stay valid until it
  // completes.
  boost::asio::awaitable<CallResult> post(const Event& event,
                                          std::span<const ExtraHeader> extra_headers);
  // post() of an encoded body (a batch), keeping up to `keep_answer_body` bytes of the answer.
  boost::asio::awaitable<CallResult> post_body(std::string_view content_type,
                                               std::string_view body,
                                               std::span<const ExtraHeader> extra_headers,
                                               std::size_t keep_answer_body);

  // Closes the idle pooled connections; connections still in use are closed when their request
  // ends instead of going back to the pool. Further calls still work, without keep-alive.
  void stop();

  const HttpEndpoint& endpoint() const;
  // No call waits for a slot or is under way: the client may be destroyed (a reload retires
  // the client of a function whose settings changed once this holds).
  bool idle() const;
  std::size_t idle_connections() const;
  std::uint64_t connections_opened() const;  // since construction, for tests and debugging
  // TLS handshakes that resumed an earlier session instead of a full handshake (https only).
  std::uint64_t tls_sessions_resumed() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace triggerd
