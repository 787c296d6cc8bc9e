// The only Beast translation unit of the dispatcher (Beast is slow to compile): keep it that way,
// and keep the headers Beast-free.
#include "dispatcher/http_client.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <optional>

#include "core/logging.hpp"
#include "core/net_names.hpp"
#include "core/text.hpp"
#include "core/tls_client.hpp"
#include "dispatcher/answer_parser.hpp"

namespace triggerd {
namespace {

using Clock = std::chrono::steady_clock;

// A DNS lookup under way. getaddrinfo runs on Asio's resolver thread and cannot be interrupted,
// so a call does not wait for it when its deadline passes or it is cancelled: it lets go of the
// lookup (call = nullptr) and ends, and the lookup finishes on its own and is then forgotten.
struct Lookup {
  explicit Lookup(const asio::any_io_executor& executor) : resolver(executor) {}
  tcp::resolver resolver;
  FunctionCall* call = nullptr;
};

std::string describe(const beast::error_code& error) { return to_ascii_lower(error.message()); }

CallResult failure(const beast::error_code& error) {
  CallResult result;
  if (error == beast::error::timeout) {
    result.kind = CallResult::Kind::timeout;
  } else {
    result.kind = CallResult::Kind::connect_error;
    result.error = describe(error);
  }
  return result;
}

CallResult cancelled_result() {
  CallResult result;
  result.kind = CallResult::Kind::cancelled;
  return result;
}

bool is_cancelled(const asio::cancellation_state& state) {
  return state.cancelled() != asio::cancellation_type::none;
}

}  // namespace

struct FunctionCall::Connection {
  // With a context: a TLS connection (https).
  Connection(const asio::any_io_executor& executor, asio::ssl::context* tls_context)
      : socket(executor) {
    if (tls_context != nullptr) tls.emplace(executor, *tls_context);
  }
  tcp::socket& transport() { return tls ? tls->next_layer() : socket; }
  // Runs `operation` on the stream requests and answers go through: TLS, or the plain socket.
  template <typename Operation>
  void on_stream(Operation&& operation) {
    if (tls) {
      operation(*tls);
    } else {
      operation(socket);
    }
  }
  ~Connection() {
    // OpenSSL takes a TLS connection freed without a shutdown for a broken one and makes its
    // session unresumable; one that carried an answer ended well, and its session is kept.
    if (tls && answered) {
      SSL_set_shutdown(tls->native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    }
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  // No close_notify for TLS: the server sees the connection end as it would a plain one's.
  void close() {
    beast::error_code ignored;
    transport().close(ignored);
  }
  tcp::socket socket;  // unused for https: the TLS stream holds its own
  std::optional<beast::ssl_stream<tcp::socket>> tls;
  bool answered = false;  // TLS: an answer was read in full, and its session kept
  beast::flat_buffer buffer;
  std::string head;                    // the request head, rebuilt in place for every request
  std::optional<AnswerParser> parser;  // a fresh one per answer (a parser cannot be reset)
  std::shared_ptr<Lookup> lookup;      // while this connection's address is being looked up
};

void FunctionCall::ConnectionDeleter::operator()(Connection* connection) const noexcept {
  delete connection;  // closes its socket
}

HttpEndpoint HttpEndpoint::for_function(const config::Function& function) {
  return HttpEndpoint{function.name,     function.url,     function.timeout,
                      function.max_concurrency, function.headers, function.tls};
}

// The steps of a call, each started by the completion of the one before:
//   start -> (wait for a slot) -> begin -> pooled connection ----------------> send -> read -> end
//                                       \-> new connection: resolve -> connect -/
//                                                        (https: -> handshake)
// Every path ends in end() exactly once, which gives back the slot and calls on_call_done().
struct FunctionClient::Impl {
  using Stage = FunctionCall::Stage;
  using Connection = FunctionCall::Connection;
  using ConnectionPtr = FunctionCall::ConnectionPtr;

  Impl(asio::any_io_executor executor, HttpEndpoint endpoint)
      : executor_(std::move(executor)),
        endpoint_(std::move(endpoint)),
        port_(std::to_string(endpoint_.url.port)),
        numeric_(numeric_endpoint(endpoint_.url.host, endpoint_.url.port)),
        fixed_head_(make_fixed_head(endpoint_.url, endpoint_.headers)),
        available_(static_cast<std::size_t>(std::max(endpoint_.max_concurrency, 1))),
        watchdog_(executor_),
        logger_(logging::get("dispatcher")) {
    if (endpoint_.url.https) make_tls_context();
  }

  // The context of an https endpoint. The config's check built the same one at load, so this
  // fails only when a file went away since: every call then fails with the reason, and says so.
  void make_tls_context() {
    const TlsClientSettings& settings = endpoint_.tls;
    tls_host_ = settings.server_name.empty() ? bare_host(endpoint_.url.host) : settings.server_name;
    TlsSettingsError error;
    tls_context_ = make_tls_client_context(settings, error);
    if (!tls_context_) {
      tls_unusable_ = "tls " + error.field + ": " + error.reason;
      logger_->error("{}: {}; every delivery to it fails until this is fixed", endpoint_.name,
                     tls_unusable_);
      return;
    }
    if (settings.insecure_skip_verify) {
      logger_->warn(
          "{}: tls.insecure_skip_verify is on: the certificate of {} is not checked, so anyone "
          "on the path can read and change what is sent to it",
          endpoint_.name, endpoint_.url.host);
    }
  }

  // "[::1]" as the name a certificate would carry: "::1".
  static std::string bare_host(const std::string& host) {
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      return host.substr(1, host.size() - 2);
    }
    return host;
  }

  static Connection* connection_of(FunctionCall& call) { return call.connection_.get(); }

  // An address written as such needs no lookup: it would only queue behind the lookups of
  // other functions on Asio's one resolver thread.
  static std::optional<tcp::resolver::results_type> numeric_endpoint(const std::string& host,
                                                                     std::uint16_t port) {
    beast::error_code error;
    const asio::ip::address address = asio::ip::make_address(bare_host(host), error);
    if (error) return std::nullopt;
    return tcp::resolver::results_type::create(tcp::endpoint(address, port), host,
                                               std::to_string(port));
  }

  // --- the concurrency limit: a FIFO of waiting calls, so none starves behind newer ones ---

  void start(FunctionCall& call) {
    call.result_ = CallResult{};
    call.cancelled_ = call.timed_out_ = call.reused_ = call.replaced_stale_ = false;
    call.answer_started_ = false;
    if (available_ > 0 && waiters_head_ == nullptr) {
      --available_;
      begin(call);
      return;
    }
    call.stage_ = Stage::waiting_for_slot;
    call.next_waiter_ = nullptr;
    (waiters_tail_ == nullptr ? waiters_head_ : waiters_tail_->next_waiter_) = &call;
    waiters_tail_ = &call;
  }

  void release_slot() {
    FunctionCall* next = waiters_head_;
    if (next == nullptr) {
      ++available_;
      return;
    }
    waiters_head_ = next->next_waiter_;
    if (waiters_head_ == nullptr) waiters_tail_ = nullptr;
    begin(*next);  // starts its I/O; nothing completes inline
  }

  // Linear, but only a drain cancels a waiting call.
  void remove_waiter(FunctionCall& call) {
    FunctionCall* previous = nullptr;
    for (FunctionCall* at = waiters_head_; at != nullptr; previous = at, at = at->next_waiter_) {
      if (at != &call) continue;
      (previous == nullptr ? waiters_head_ : previous->next_waiter_) = call.next_waiter_;
      if (waiters_tail_ == &call) waiters_tail_ = previous;
      return;
    }
  }

  // --- the deadline: one watchdog timer for all calls under way ---

  void watch(FunctionCall& call) {
    call.watch_index_ = watched_.size();
    watched_.push_back(&call);
    if (call.deadline_ < watchdog_at_) arm_watchdog(call.deadline_);
  }

  void unwatch(FunctionCall& call) {
    FunctionCall* last = watched_.back();
    watched_[call.watch_index_] = last;
    last->watch_index_ = call.watch_index_;
    watched_.pop_back();
    // A pending wait keeps the io_context running: none may be left when nothing is under way.
    if (watched_.empty() && watchdog_at_ != Clock::time_point::max()) {
      watchdog_at_ = Clock::time_point::max();
      watchdog_.cancel();
    }
  }

  // The timer is left armed when the calls it was set for end early (while others go on): it
  // then wakes once for nothing and sets itself to the next deadline. One timer per endpoint,
  // not one per request: arming and cancelling a timer per request cost more than the rest of
  // its bookkeeping.
  void arm_watchdog(Clock::time_point at) {
    watchdog_at_ = at;
    watchdog_.expires_at(at);  // an earlier wait, if any, ends with operation_aborted
    watchdog_.async_wait(
        [this, alive = std::weak_ptr<const bool>(alive_)](const beast::error_code& error) {
          if (error || alive.expired()) return;  // set again, or the client is gone
          on_watchdog();
        });
  }

  void on_watchdog() {
    watchdog_at_ = Clock::time_point::max();
    const Clock::time_point now = Clock::now();
    Clock::time_point next = Clock::time_point::max();
    for (FunctionCall* call : watched_) {
      if (call->timed_out_) continue;
      if (call->deadline_ <= now) {
        call->timed_out_ = true;
        interrupt(*call);
      } else {
        next = std::min(next, call->deadline_);
      }
    }
    if (next != Clock::time_point::max()) arm_watchdog(next);
  }

  // Makes a call under way end soon: its pending operation fails (the connection is closed), or,
  // while it waits for a lookup, it lets go of the lookup and ends from a posted handler.
  void interrupt(FunctionCall& call) {
    Connection* connection = connection_of(call);
    if (connection == nullptr) return;
    if (connection->lookup) {
      connection->lookup->call = nullptr;
      connection->lookup.reset();
      asio::post(executor_, [this, &call] { fail(call, asio::error::operation_aborted); });
      return;
    }
    connection->close();
  }

  void cancel(FunctionCall& call) {
    switch (call.stage_) {
      case Stage::idle:
      case Stage::ending:
        return;
      case Stage::waiting_for_slot:
        remove_waiter(call);
        call.stage_ = Stage::ending;
        call.result_ = cancelled_result();
        asio::post(executor_, [&call] {
          call.stage_ = Stage::idle;
          call.on_call_done();
        });
        return;
      case Stage::connecting:
      case Stage::exchanging:
        call.cancelled_ = true;
        interrupt(call);
        return;
    }
  }

  // --- connections ---

  // Last in, first out: the most recently used connection is the least likely to have been
  // closed by the server's idle timeout, and the older ones time out and go away on their own.
  ConnectionPtr take_idle() {
    if (idle_.empty()) return nullptr;
    ConnectionPtr connection = std::move(idle_.back());
    idle_.pop_back();
    return connection;
  }

  // Once stopped, the connection is closed instead.
  void give_back(ConnectionPtr connection) {
    if (!stopped_) idle_.push_back(std::move(connection));
  }

  void close_idle() {
    for (auto& connection : idle_) connection->close();
    idle_.clear();
  }

  // Drops the call's connection, closing it.
  static void drop_connection(FunctionCall& call) { call.connection_.reset(); }

  // --- the steps ---

  void begin(FunctionCall& call) {
    call.stage_ = Stage::connecting;
    call.start_ = Clock::now();
    call.deadline_ = call.start_ + endpoint_.timeout;
    watch(call);
    use_connection(call);
  }

  void use_connection(FunctionCall& call) {
    ConnectionPtr pooled = call.replaced_stale_ ? nullptr : take_idle();
    call.reused_ = pooled != nullptr;
    if (pooled != nullptr) {
      call.connection_ = std::move(pooled);
      send(call);
      return;
    }
    call.stage_ = Stage::connecting;
    if (endpoint_.url.https && !tls_context_) {
      fail_with_reason(call, tls_unusable_, true);
      return;
    }
    call.connection_ = ConnectionPtr(new Connection(executor_, tls_context_.get()));
    Connection* connection = connection_of(call);
    if (numeric_) {
      on_resolved(call, {}, *numeric_);
      return;
    }
    auto lookup = std::make_shared<Lookup>(executor_);
    lookup->call = &call;
    connection->lookup = lookup;
    lookup->resolver.async_resolve(
        endpoint_.url.host, port_, tcp::resolver::numeric_service,
        [this, lookup](const beast::error_code& error, tcp::resolver::results_type endpoints) {
          FunctionCall* waiting = std::exchange(lookup->call, nullptr);
          if (waiting == nullptr) return;  // the call let go: its client may be gone by now
          connection_of(*waiting)->lookup.reset();
          on_resolved(*waiting, error, std::move(endpoints));
        });
  }

  void on_resolved(FunctionCall& call, const beast::error_code& error,
                   tcp::resolver::results_type endpoints) {
    if (error) {
      fail(call, error);
      return;
    }
    asio::async_connect(connection_of(call)->transport(), endpoints,
                        [this, &call](const beast::error_code& connect_error,
                                      const tcp::endpoint& connected) {
                          on_connected(call, connect_error, connected);
                        });
  }

  void on_connected(FunctionCall& call, const beast::error_code& error,
                    const tcp::endpoint& connected) {
    if (error) {
      fail(call, error);
      return;
    }
    Connection& connection = *connection_of(call);
    beast::error_code ignored;
    // Head and body go out in one gather write; no reason to let Nagle hold back the tail.
    connection.transport().set_option(tcp::no_delay(true), ignored);
    ++connections_opened_;
    logger_->debug("{}: connected to {}", endpoint_.name, connected.address().to_string());
    if (connection.tls) {
      handshake(call);
    } else {
      send(call);
    }
  }

  void handshake(FunctionCall& call) {
    Connection& connection = *connection_of(call);
    SSL* ssl = connection.tls->native_handle();
    if (!prepare_tls_connection(ssl, tls_host_)) {
      fail_with_reason(call, "tls: " + tls_host_ + " cannot be checked against a certificate",
                       true);
      return;
    }
    if (tls_session_) SSL_set_session(ssl, tls_session_.get());
    connection.tls->async_handshake(
        asio::ssl::stream_base::client, [this, &call](const beast::error_code& error) {
          const SSL* handshaken = connection_of(call)->tls->native_handle();
          if (!error) {
            if (SSL_session_reused(handshaken) == 1) ++tls_sessions_resumed_;
            send(call);
          } else if (call.timed_out_ || call.cancelled_) {
            fail(call, error);
          } else {
            const bool refused = SSL_get_verify_result(handshaken) != X509_V_OK;
            fail_with_reason(call, tls_handshake_failure(handshaken, tls_host_, describe(error)),
                             refused);
          }
        });
  }

  // Keeps the connection's session once its first answer has been read (a TLS 1.3 server sends
  // its ticket after the handshake), for the next new connection to resume.
  void keep_tls_session(Connection& connection) {
    if (!connection.tls || connection.answered) return;
    connection.answered = true;
    SSL_SESSION* session = SSL_get1_session(connection.tls->native_handle());
    if (session == nullptr) return;
    if (SSL_SESSION_is_resumable(session) != 1) {
      SSL_SESSION_free(session);
      return;
    }
    tls_session_.reset(session, SSL_SESSION_free);
  }

  void send(FunctionCall& call) {
    call.stage_ = Stage::exchanging;
    call.answer_started_ = false;
    // The deadline passed or a cancellation came on the way here (a lookup or connect that
    // completed just before, or a connection being replaced).
    if (call.timed_out_ || call.cancelled_) {
      fail(call, asio::error::operation_aborted);
      return;
    }
    Connection& connection = *connection_of(call);
    connection.head.assign(fixed_head_);  // keeps the capacity of the previous request's head
    std::string_view body;
    if (call.request_event != nullptr) {
      append_event_headers(*call.request_event, call.extra_headers, connection.head);
      body = call.request_event->data.view();
    } else {
      append_body_headers(call.request_content_type, call.request_body.size(), call.extra_headers,
                          connection.head);
      body = call.request_body;
    }
    const std::array<asio::const_buffer, 2> request{asio::buffer(connection.head),
                                                    asio::buffer(body.data(), body.size())};
    connection.on_stream([&](auto& stream) {
      asio::async_write(stream, request,
                        [this, &call](const beast::error_code& error, std::size_t /*written*/) {
                          if (error) {
                            on_exchange_failed(call, error);
                          } else {
                            read_answer(call);
                          }
                        });
    });
  }

  void read_answer(FunctionCall& call) {
    Connection& connection = *connection_of(call);
    AnswerParser& parser = connection.parser.emplace();
    parser.header_limit(AnswerParser::kHeaderLimit);
    parser.body_limit(boost::none);
    if (call.keep_answer_body > 0) {
      parser.keep_body(&call.result_.body, &call.result_.body_cut, call.keep_answer_body);
    }
    connection.on_stream([&](auto& stream) {
      http::async_read(stream, connection.buffer, parser,
                       [this, &call](const beast::error_code& error, std::size_t read) {
                         on_answer(call, error, read);
                       });
    });
  }

  void on_answer(FunctionCall& call, const beast::error_code& error, std::size_t read) {
    Connection& connection = *connection_of(call);
    call.answer_started_ = call.answer_started_ || read > 0 || connection.buffer.size() > 0;
    if (error) {
      on_exchange_failed(call, error);
      return;
    }
    const AnswerParser& parser = *connection.parser;
    const int status = parser.status();
    // An interim 1xx answer (a 100 Continue nobody asked for) is skipped: the final one counts.
    if (status >= 100 && status <= 199 && status != 101) {
      read_answer(call);
      return;
    }
    call.result_.kind = CallResult::Kind::status;
    call.result_.status = status;
    call.result_.retry_after = parser.retry_after();
    keep_tls_session(connection);
    // Bytes beyond the answer would be read as the next request's answer: not reusable.
    const bool keep_alive = parser.keep_alive() && connection.buffer.size() == 0;
    if (keep_alive) {
      give_back(std::move(call.connection_));
    } else {
      drop_connection(call);
    }
    end(call);
  }

  void on_exchange_failed(FunctionCall& call, const beast::error_code& error) {
    // A keep-alive connection the server closed while it sat in the pool fails like this: write
    // error, or EOF / reset before any answer byte. That says nothing about the function, so it
    // is not an attempt; the request goes once more on a new connection.
    if (call.reused_ && !call.replaced_stale_ && !call.answer_started_ && !call.timed_out_ &&
        !call.cancelled_) {
      logger_->debug("{}: pooled connection closed by the server ({}); using a new one",
                     endpoint_.name, describe(error));
      drop_connection(call);
      // The others in the pool have been idle at least as long: most likely closed too.
      close_idle();
      call.replaced_stale_ = true;
      use_connection(call);
      return;
    }
    fail(call, error);
  }

  // Ends a call that has no answer with `result`, unless it was cancelled or timed out first
  // (an operation the watchdog cut short fails with operation_aborted or similar).
  void fail(FunctionCall& call, CallResult result) {
    drop_connection(call);
    if (call.cancelled_) {
      call.result_ = cancelled_result();
    } else if (call.timed_out_) {
      call.result_ = failure(beast::error::timeout);
    } else {
      call.result_ = std::move(result);
    }
    end(call);
  }

  void fail(FunctionCall& call, const beast::error_code& error) { fail(call, failure(error)); }

  // A failed TLS handshake, or TLS that could not be set up or refused the server's
  // certificate (`tls_refused`).
  void fail_with_reason(FunctionCall& call, std::string reason, bool tls_refused) {
    CallResult result;
    result.kind = CallResult::Kind::connect_error;
    result.error = std::move(reason);
    result.tls_refused = tls_refused;
    fail(call, std::move(result));
  }

  void end(FunctionCall& call) {
    call.result_.duration = Clock::now() - call.start_;
    unwatch(call);
    call.stage_ = Stage::idle;
    release_slot();
    call.on_call_done();  // last: the call may be started again or destroyed in there
  }

  asio::any_io_executor executor_;
  HttpEndpoint endpoint_;
  std::string port_;
  std::optional<tcp::resolver::results_type> numeric_;  // the url's host is an IP address
  std::string fixed_head_;  // holds revealed header secrets: never log it
  std::size_t available_;   // free slots of max_concurrency
  FunctionCall* waiters_head_ = nullptr;
  FunctionCall* waiters_tail_ = nullptr;
  std::vector<ConnectionPtr> idle_;
  std::vector<FunctionCall*> watched_;  // the calls under way, in no order
  asio::steady_timer watchdog_;
  Clock::time_point watchdog_at_ = Clock::time_point::max();  // max: not armed
  // The watchdog's handler may run after the client is gone (a wait cancelled by the timer's
  // destructor completes later); it checks this first.
  std::shared_ptr<const bool> alive_ = std::make_shared<const bool>(true);
  std::uint64_t connections_opened_ = 0;
  // https: the context all connections share, the name their certificates must carry, and the
  // last session to resume (none yet, or the server does not offer resumption).
  std::shared_ptr<asio::ssl::context> tls_context_;
  std::string tls_host_;
  std::string tls_unusable_;  // why there is no context
  std::shared_ptr<SSL_SESSION> tls_session_;
  std::uint64_t tls_sessions_resumed_ = 0;
  bool stopped_ = false;
  std::shared_ptr<spdlog::logger> logger_;
};

FunctionClient::FunctionClient(asio::any_io_executor executor, HttpEndpoint endpoint)
    : impl_(std::make_unique<Impl>(std::move(executor), std::move(endpoint))) {}

FunctionClient::FunctionClient(asio::any_io_executor executor, const config::Function& function)
    : FunctionClient(std::move(executor), HttpEndpoint::for_function(function)) {}

FunctionClient::~FunctionClient() = default;

bool FunctionClient::idle() const {
  return impl_->waiters_head_ == nullptr && impl_->watched_.empty();
}

void FunctionClient::start(FunctionCall& call) { impl_->start(call); }

void FunctionClient::cancel(FunctionCall& call) { impl_->cancel(call); }

namespace {

// A call owned by a coroutine that sleeps on a never-expiring timer until the call ends.
class AwaitedCall final : public FunctionCall {
 public:
  explicit AwaitedCall(const asio::any_io_executor& executor)
      : wake_(executor, asio::steady_timer::time_point::max()) {}
  bool done() const { return done_; }
  // Ends when the call ends or the calling coroutine is cancelled, whichever comes first.
  asio::awaitable<void> wait() {
    co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
  }

 private:
  void on_call_done() override {
    done_ = true;
    wake_.cancel();
  }
  asio::steady_timer wake_;
  bool done_ = false;
};

// Runs `call` (set up by the caller) to its end as a coroutine; see post().
asio::awaitable<CallResult> await_call(FunctionClient& client, AwaitedCall& call) {
  // Errors are values here: a cancellation must end this coroutine with `cancelled`, not with
  // an operation_aborted exception thrown at the next co_await. The flag belongs to the whole
  // coroutine stack, so the caller's setting is put back afterwards.
  const bool throw_if_cancelled = co_await asio::this_coro::throw_if_cancelled();
  co_await asio::this_coro::throw_if_cancelled(false);
  const asio::cancellation_state cancel_state = co_await asio::this_coro::cancellation_state;
  CallResult result = cancelled_result();
  // A cancellation that came before the call would never reach it.
  if (!is_cancelled(cancel_state)) {
    client.start(call);
    while (!call.done()) {
      co_await call.wait();
      if (!call.done() && is_cancelled(cancel_state)) client.cancel(call);  // then wait for its end
    }
    result = call.result();
  }
  co_await asio::this_coro::throw_if_cancelled(throw_if_cancelled);
  co_return result;
}

}  // namespace

asio::awaitable<CallResult> FunctionClient::post(const Event& event,
                                                 std::span<const ExtraHeader> extra_headers) {
  AwaitedCall call(impl_->executor_);
  call.request_event = &event;
  call.extra_headers = extra_headers;
  co_return co_await await_call(*this, call);
}

asio::awaitable<CallResult> FunctionClient::post_body(std::string_view content_type,
                                                      std::string_view body,
                                                      std::span<const ExtraHeader> extra_headers,
                                                      std::size_t keep_answer_body) {
  AwaitedCall call(impl_->executor_);
  call.request_body = body;
  call.request_content_type = content_type;
  call.extra_headers = extra_headers;
  call.keep_answer_body = keep_answer_body;
  co_return co_await await_call(*this, call);
}

void FunctionClient::stop() {
  impl_->stopped_ = true;
  impl_->close_idle();
}

const HttpEndpoint& FunctionClient::endpoint() const { return impl_->endpoint_; }

std::size_t FunctionClient::idle_connections() const { return impl_->idle_.size(); }

std::uint64_t FunctionClient::connections_opened() const { return impl_->connections_opened_; }

std::uint64_t FunctionClient::tls_sessions_resumed() const {
  return impl_->tls_sessions_resumed_;
}

}  // namespace triggerd
