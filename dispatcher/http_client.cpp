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
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/read.hpp>
#include <cctype>
#include <chrono>
#include <exception>

#include "broker/logging.hpp"
#include "dispatcher/async_semaphore.hpp"

namespace triggerd {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// Functions may answer with cookies and tracing headers; 8 KiB (Beast's default) is tight.
constexpr std::uint32_t kHeaderLimit = 64 * 1024;

// Reads a function's answer and keeps only what the dispatcher uses: the status and
// Retry-After. Beast's response_parser would store every header field (an allocation each) and
// the body; this one stores nothing else, and the body's bytes are only counted, read to the end
// so the connection can carry the next request. basic_parser still does all of the framing
// (Content-Length, chunked, keep-alive).
class AnswerParser final : public http::basic_parser<false> {
 public:
  int status() const { return status_; }
  const std::string& retry_after() const { return retry_after_; }

 private:
  void on_request_impl(http::verb /*method*/, beast::string_view /*method_str*/,
                       beast::string_view /*target*/, int /*version*/,
                       beast::error_code& /*error*/) override {}

  void on_response_impl(int code, beast::string_view /*reason*/, int /*version*/,
                        beast::error_code& /*error*/) override {
    status_ = code;
  }

  void on_field_impl(http::field name, beast::string_view /*name_string*/,
                     beast::string_view value, beast::error_code& /*error*/) override {
    if (name == http::field::retry_after) retry_after_.assign(value.data(), value.size());
  }

  void on_header_impl(beast::error_code& /*error*/) override {}

  void on_body_init_impl(const boost::optional<std::uint64_t>& /*content_length*/,
                         beast::error_code& /*error*/) override {}

  std::size_t on_body_impl(beast::string_view body, beast::error_code& /*error*/) override {
    return body.size();
  }

  void on_chunk_header_impl(std::uint64_t /*size*/, beast::string_view /*extensions*/,
                            beast::error_code& /*error*/) override {}

  std::size_t on_chunk_body_impl(std::uint64_t /*remain*/, beast::string_view body,
                                 beast::error_code& /*error*/) override {
    return body.size();
  }

  void on_finish_impl(beast::error_code& /*error*/) override {}

  int status_ = 0;
  std::string retry_after_;
};

struct Connection {
  explicit Connection(const asio::any_io_executor& executor) : socket(executor) {}
  void close() {
    beast::error_code ignored;
    socket.close(ignored);
  }
  tcp::socket socket;
  beast::flat_buffer buffer;
  std::string head;  // the request head, rebuilt in place for every request
};

// One attempt's deadline. The client's watchdog closes the attempt's connection when it passes,
// which ends whatever operation is under way (connect, write or read) with operation_aborted;
// `timed_out` then says it was the deadline. One watchdog timer per function instead of
// beast::tcp_stream's timer per operation: arming and cancelling two timers per request cost
// more than the rest of the request's bookkeeping.
struct Watch {
  Clock::time_point deadline;
  Connection* connection = nullptr;  // the one in use, if any
  bool timed_out = false;
  std::size_t index = 0;  // in the client's list of watched attempts
};

// How one request/answer exchange on a connection ended.
struct Exchange {
  beast::error_code error;
  bool answer_started = false;  // at least one byte of an answer arrived
  int status = 0;
  std::string retry_after;
  bool keep_alive = false;
};

std::string describe(const beast::error_code& error) {
  std::string text = error.message();
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

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

bool is_cancelled(const asio::cancellation_state& state) {
  return state.cancelled() != asio::cancellation_type::none;
}

}  // namespace

HttpEndpoint HttpEndpoint::for_function(const config::Function& function) {
  return HttpEndpoint{function.name, function.url, function.timeout, function.max_concurrency,
                      function.headers};
}

struct FunctionClient::Impl {
  Impl(asio::any_io_executor executor, HttpEndpoint endpoint)
      : executor_(std::move(executor)),
        endpoint_(std::move(endpoint)),
        port_(std::to_string(endpoint_.url.port)),
        fixed_head_(make_fixed_head(endpoint_.url, endpoint_.headers)),
        slots_(executor_, static_cast<std::size_t>(std::max(endpoint_.max_concurrency, 1))),
        watchdog_(executor_),
        logger_(logging::get("dispatcher")) {}

  asio::awaitable<CallResult> attempt(const Event& event, std::span<const ExtraHeader> extra);
  asio::awaitable<beast::error_code> connect(Connection& connection, Watch& watch);
  asio::awaitable<Exchange> exchange(Connection& connection, const Event& event,
                                     std::span<const ExtraHeader> extra, const Watch& watch);

  void watch(Watch& watch) {
    watch.index = watched_.size();
    watched_.push_back(&watch);
    if (watch.deadline < watchdog_at_) arm_watchdog(watch.deadline);
  }

  void unwatch(Watch& watch) {
    Watch* last = watched_.back();
    watched_[watch.index] = last;
    last->index = watch.index;
    watched_.pop_back();
    // A pending wait keeps the io_context running: none may be left when nothing is under way.
    if (watched_.empty() && watchdog_at_ != Clock::time_point::max()) {
      watchdog_at_ = Clock::time_point::max();
      watchdog_.cancel();
    }
  }

  // The timer is left armed when the attempts it was set for end early (while others go on): it
  // then wakes once for nothing and sets itself to the next deadline.
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
    for (Watch* watch : watched_) {
      if (watch->timed_out) continue;
      if (watch->deadline <= now) {
        watch->timed_out = true;
        if (watch->connection != nullptr) watch->connection->close();
      } else {
        next = std::min(next, watch->deadline);
      }
    }
    if (next != Clock::time_point::max()) arm_watchdog(next);
  }

  // Last in, first out: the most recently used connection is the least likely to have been
  // closed by the server's idle timeout, and the older ones time out and go away on their own.
  std::unique_ptr<Connection> take_idle() {
    if (idle_.empty()) return nullptr;
    std::unique_ptr<Connection> connection = std::move(idle_.back());
    idle_.pop_back();
    return connection;
  }

  void give_back(std::unique_ptr<Connection> connection) {
    if (stopped_) {
      connection->close();
      return;
    }
    idle_.push_back(std::move(connection));
  }

  void close_idle() {
    for (auto& connection : idle_) connection->close();
    idle_.clear();
  }

  asio::any_io_executor executor_;
  HttpEndpoint endpoint_;
  std::string port_;
  std::string fixed_head_;  // holds revealed header secrets: never log it
  AsyncSemaphore slots_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::vector<Watch*> watched_;  // the attempts under way, in no order
  asio::steady_timer watchdog_;
  Clock::time_point watchdog_at_ = Clock::time_point::max();  // max: not armed
  // The watchdog's handler may run after the client is gone (a wait cancelled by the timer's
  // destructor completes later); it checks this first.
  std::shared_ptr<const bool> alive_ = std::make_shared<const bool>(true);
  std::uint64_t connections_opened_ = 0;
  bool stopped_ = false;
  std::shared_ptr<spdlog::logger> logger_;
};

// An operation that failed because the watchdog closed the connection failed by the deadline.
beast::error_code deadline_or(const Watch& watch, const beast::error_code& error) {
  return watch.timed_out ? beast::error_code(beast::error::timeout) : error;
}

asio::awaitable<beast::error_code> FunctionClient::Impl::connect(Connection& connection,
                                                                 Watch& watch) {
  // getaddrinfo runs on Asio's resolver thread and cannot be interrupted, so the lookup is not
  // awaited directly: its result lands in shared state and wakes a timer that also carries the
  // deadline and the caller's cancellation. A lookup that hangs is left to finish on its own.
  struct Lookup {
    Lookup(const asio::any_io_executor& executor, Clock::time_point deadline_at)
        : wake(executor, deadline_at) {}
    asio::steady_timer wake;
    beast::error_code error;
    tcp::resolver::results_type endpoints;
    bool done = false;
  };
  auto lookup = std::make_shared<Lookup>(executor_, watch.deadline);
  tcp::resolver resolver(executor_);
  resolver.async_resolve(
      endpoint_.url.host, port_, tcp::resolver::numeric_service,
      [lookup](const beast::error_code& error, tcp::resolver::results_type endpoints) {
        lookup->error = error;
        lookup->endpoints = std::move(endpoints);
        lookup->done = true;
        lookup->wake.cancel();
      });
  auto [wait_error] = co_await lookup->wake.async_wait(asio::as_tuple(asio::use_awaitable));
  if (!lookup->done) {
    co_return wait_error == asio::error::operation_aborted
        ? beast::error_code(asio::error::operation_aborted)
        : beast::error_code(beast::error::timeout);
  }
  if (lookup->error) co_return lookup->error;
  // The watchdog may have passed while the lookup ran (it closed a socket not yet open).
  if (watch.timed_out) co_return beast::error::timeout;

  auto [connect_error, connected] = co_await asio::async_connect(
      connection.socket, lookup->endpoints, asio::as_tuple(asio::use_awaitable));
  if (connect_error) co_return deadline_or(watch, connect_error);
  beast::error_code ignored;
  // Head and body go out in one gather write; no reason to let Nagle hold back the tail.
  connection.socket.set_option(tcp::no_delay(true), ignored);
  ++connections_opened_;
  logger_->debug("{}: connected to {}", endpoint_.name, connected.address().to_string());
  co_return beast::error_code{};
}

asio::awaitable<Exchange> FunctionClient::Impl::exchange(Connection& connection, const Event& event,
                                                         std::span<const ExtraHeader> extra,
                                                         const Watch& watch) {
  Exchange result;
  if (watch.timed_out) {  // the deadline passed on the way here (a connection was replaced)
    result.error = beast::error::timeout;
    co_return result;
  }
  connection.head.assign(fixed_head_);  // keeps the capacity of the previous request's head
  append_event_headers(event, extra, connection.head);
  const std::array<asio::const_buffer, 2> request{asio::buffer(connection.head),
                                                  asio::buffer(event.data)};
  auto [write_error, written] =
      co_await asio::async_write(connection.socket, request, asio::as_tuple(asio::use_awaitable));
  if (write_error) {
    result.error = deadline_or(watch, write_error);
    co_return result;
  }
  // An interim 1xx answer (a 100 Continue nobody asked for) is skipped: the final one counts.
  for (;;) {
    AnswerParser parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(boost::none);
    auto [read_error, read] = co_await http::async_read(
        connection.socket, connection.buffer, parser, asio::as_tuple(asio::use_awaitable));
    result.answer_started = result.answer_started || read > 0 || connection.buffer.size() > 0;
    if (read_error) {
      result.error = deadline_or(watch, read_error);
      co_return result;
    }
    result.status = parser.status();
    if (result.status >= 100 && result.status <= 199 && result.status != 101) continue;
    result.retry_after = parser.retry_after();
    // Bytes beyond the answer would be read as the next request's answer: not reusable.
    result.keep_alive = parser.keep_alive() && connection.buffer.size() == 0;
    co_return result;
  }
}

asio::awaitable<CallResult> FunctionClient::Impl::attempt(const Event& event,
                                                          std::span<const ExtraHeader> extra) {
  const asio::cancellation_state cancel_state = co_await asio::this_coro::cancellation_state;
  CallResult cancelled;
  cancelled.kind = CallResult::Kind::cancelled;

  if (is_cancelled(cancel_state)) co_return cancelled;
  // A free slot is taken without the acquire() coroutine (a frame and a scheduler hop each).
  bool acquired = slots_.try_acquire();
  if (!acquired) acquired = co_await slots_.acquire();
  if (!acquired) co_return cancelled;
  SemaphorePermit permit(slots_);
  if (is_cancelled(cancel_state)) co_return cancelled;

  const Clock::time_point start = Clock::now();
  Watch watch{.deadline = start + endpoint_.timeout};
  this->watch(watch);
  struct Unwatch {
    Impl& impl;
    Watch& watch;
    ~Unwatch() { impl.unwatch(watch); }
  } unwatch_at_end{*this, watch};
  CallResult result;
  bool replaced_stale = false;
  for (;;) {
    std::unique_ptr<Connection> connection = replaced_stale ? nullptr : take_idle();
    const bool reused = connection != nullptr;
    if (!connection) {
      connection = std::make_unique<Connection>(executor_);
      watch.connection = connection.get();
      beast::error_code error = co_await connect(*connection, watch);
      if (error) {
        watch.connection = nullptr;
        connection->close();
        result = is_cancelled(cancel_state) ? cancelled : failure(error);
        break;
      }
    }
    watch.connection = connection.get();
    Exchange exchange = co_await this->exchange(*connection, event, extra, watch);
    watch.connection = nullptr;
    if (exchange.error) {
      connection->close();
      if (is_cancelled(cancel_state)) {
        result = cancelled;
        break;
      }
      // A keep-alive connection the server closed while it sat in the pool fails like this:
      // write error, or EOF / reset before any answer byte. That says nothing about the function,
      // so it is not an attempt; the request goes once more on a new connection.
      if (reused && !replaced_stale && !exchange.answer_started &&
          exchange.error != beast::error::timeout) {
        logger_->debug("{}: pooled connection closed by the server ({}); using a new one",
                       endpoint_.name, describe(exchange.error));
        // The others in the pool have been idle at least as long: most likely closed too.
        close_idle();
        replaced_stale = true;
        continue;
      }
      result = failure(exchange.error);
      break;
    }
    result.kind = CallResult::Kind::status;
    result.status = exchange.status;
    result.retry_after = std::move(exchange.retry_after);
    if (exchange.keep_alive) {
      give_back(std::move(connection));
    } else {
      connection->close();
    }
    break;
  }
  result.duration = Clock::now() - start;
  co_return result;
}

FunctionClient::FunctionClient(asio::any_io_executor executor, HttpEndpoint endpoint)
    : impl_(std::make_unique<Impl>(std::move(executor), std::move(endpoint))) {}

FunctionClient::FunctionClient(asio::any_io_executor executor, const config::Function& function)
    : FunctionClient(std::move(executor), HttpEndpoint::for_function(function)) {}

FunctionClient::~FunctionClient() = default;

asio::awaitable<CallResult> FunctionClient::post(const Event& event,
                                                 std::span<const ExtraHeader> extra_headers) {
  // Errors are values here: a cancellation must end this coroutine with `cancelled`, not with
  // an operation_aborted exception thrown at the next co_await. The flag belongs to the whole
  // coroutine stack, so the caller's setting is put back afterwards.
  const bool throw_if_cancelled = co_await asio::this_coro::throw_if_cancelled();
  co_await asio::this_coro::throw_if_cancelled(false);
  CallResult result;
  try {
    result = co_await impl_->attempt(event, extra_headers);
  } catch (const std::exception& error) {
    // Nothing above throws by design; a bad_alloc or a bug must still not escape.
    impl_->logger_->error("{}: request failed unexpectedly: {}", impl_->endpoint_.name,
                          error.what());
    result = CallResult{};
    result.error = "internal error";
  }
  co_await asio::this_coro::throw_if_cancelled(throw_if_cancelled);
  co_return result;
}

void FunctionClient::stop() {
  impl_->stopped_ = true;
  impl_->close_idle();
}

const HttpEndpoint& FunctionClient::endpoint() const { return impl_->endpoint_; }

std::size_t FunctionClient::idle_connections() const { return impl_->idle_.size(); }

std::uint64_t FunctionClient::connections_opened() const { return impl_->connections_opened_; }

}  // namespace triggerd
