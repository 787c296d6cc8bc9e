// The only Beast translation unit of the stub (Beast is slow to compile).
#include "tests/function_stub/function_stub.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

namespace triggerd::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Errors come back as values: a client going away is the normal end of a connection here.
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t kHeaderLimit = 64 * 1024;
constexpr std::string_view kControlPrefix = "/_stub/";

using StepPtr = std::shared_ptr<const StubStep>;

// A parse error, as opposed to the client going away.
bool is_malformed(const beast::error_code& error) {
  return error.category() == beast::error_code(http::error::end_of_stream).category() &&
         error != http::error::end_of_stream && error != http::error::partial_message;
}

std::string_view strip_query(std::string_view target) { return target.substr(0, target.find('?')); }

// Rejected when scripted rather than when served, so the mistake points at the test's line.
StepPtr checked(StubStep step) {
  if (step.kind == StubStep::Kind::kRespond) {
    if (step.status < 200 || step.status > 599) {
      throw std::invalid_argument("function stub: status must be within 200..599, got " +
                                  std::to_string(step.status));
    }
    if ((step.status == 204 || step.status == 304) && !step.body.empty()) {
      throw std::invalid_argument("function stub: a " + std::to_string(step.status) +
                                  " answer can't have a body");
    }
  }
  if (step.delay.count() < 0) throw std::invalid_argument("function stub: negative delay");
  return std::make_shared<const StubStep>(std::move(step));
}

}  // namespace

// --- StubStep and RecordedRequest -----------------------------------------------------------

StubStep StubStep::respond(int status, std::string body) {
  StubStep step;
  step.status = status;
  step.body = std::move(body);
  return step;
}

StubStep StubStep::close_connection() {
  StubStep step;
  step.kind = Kind::kCloseConnection;
  return step;
}

StubStep StubStep::reset_connection() {
  StubStep step;
  step.kind = Kind::kResetConnection;
  return step;
}

StubStep StubStep::hang() {
  StubStep step;
  step.kind = Kind::kHang;
  return step;
}

StubStep StubStep::with_delay(std::chrono::milliseconds delay_value) const& {
  return StubStep(*this).with_delay(delay_value);
}

StubStep StubStep::with_delay(std::chrono::milliseconds delay_value) && {
  delay = delay_value;
  return std::move(*this);
}

StubStep StubStep::with_header(std::string name, std::string value) const& {
  return StubStep(*this).with_header(std::move(name), std::move(value));
}

StubStep StubStep::with_header(std::string name, std::string value) && {
  headers.emplace_back(std::move(name), std::move(value));
  return std::move(*this);
}

StubStep StubStep::with_body(std::string body_value) const& {
  return StubStep(*this).with_body(std::move(body_value));
}

StubStep StubStep::with_body(std::string body_value) && {
  body = std::move(body_value);
  return std::move(*this);
}

std::string RecordedRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (beast::iequals(key, name)) return value;
  }
  return "";
}

bool RecordedRequest::has_header(std::string_view name) const {
  return std::any_of(headers.begin(), headers.end(),
                     [name](const auto& field) { return beast::iequals(field.first, name); });
}

std::string_view RecordedRequest::path() const { return strip_query(target); }

// --- The server -----------------------------------------------------------------------------

class FunctionStub::Impl {
 public:
  explicit Impl(FunctionStubOptions options) : options_(std::move(options)) {
    const int threads = std::max(1, options_.threads);
    for (int i = 0; i < threads; ++i) {
      contexts_.push_back(std::make_unique<asio::io_context>(1));
      // Contexts without a listener would otherwise return from run() before any connection.
      work_.push_back(asio::make_work_guard(*contexts_.back()));
    }
    // One listener handing connections round-robin to the threads: simpler than one
    // SO_REUSEPORT listener per thread, and accepting is not the cost with keep-alive.
    acceptor_.emplace(*contexts_.front());
    const tcp::endpoint endpoint(asio::ip::make_address(options_.address), options_.port);
    acceptor_->open(endpoint.protocol());
    acceptor_->set_option(tcp::acceptor::reuse_address(true));
    acceptor_->bind(endpoint);
    acceptor_->listen(asio::socket_base::max_listen_connections);
    port_ = acceptor_->local_endpoint().port();

    asio::co_spawn(*contexts_.front(), accept_loop(), asio::detached);
    for (auto& context : contexts_) {
      threads_.emplace_back([&io = *context] { io.run(); });
    }
  }

  ~Impl() { stop(); }

  void stop() {
    std::lock_guard lock(stop_mutex_);
    if (stopped_) return;
    stopped_ = true;
    for (auto& context : contexts_) context->stop();
    for (auto& thread : threads_) thread.join();
    // No thread runs now. The listener goes before its context; the first context goes first
    // because its accept loop may hold a just-accepted socket that belongs to another context.
    // Destroying a context destroys the coroutines parked in it, which closes their sockets.
    beast::error_code ignored;
    acceptor_->close(ignored);
    acceptor_.reset();
    work_.clear();
    for (auto& context : contexts_) context.reset();
  }

  std::uint16_t port() const { return port_; }
  const FunctionStubOptions& options() const { return options_; }

  // Script.
  void enqueue(StubStep step) {
    auto checked_step = checked(std::move(step));
    std::lock_guard lock(script_mutex_);
    queue_.push_back(std::move(checked_step));
  }

  void enqueue_for(std::string path, StubStep step) {
    auto checked_step = checked(std::move(step));
    std::lock_guard lock(script_mutex_);
    routes_[std::move(path)].queue.push_back(std::move(checked_step));
  }

  void always(StubStep step) {
    auto checked_step = checked(std::move(step));
    std::lock_guard lock(script_mutex_);
    default_step_ = std::move(checked_step);
  }

  void always_for(std::string path, StubStep step) {
    auto checked_step = checked(std::move(step));
    std::lock_guard lock(script_mutex_);
    routes_[std::move(path)].fallback = std::move(checked_step);
  }

  void clear_script() {
    std::lock_guard lock(script_mutex_);
    queue_.clear();
    routes_.clear();
    default_step_ = std::make_shared<const StubStep>();
  }

  std::size_t pending_steps() const {
    std::lock_guard lock(script_mutex_);
    return queue_.size();
  }

  // Records.
  std::vector<RecordedRequest> requests() const {
    std::lock_guard lock(records_mutex_);
    return records_;
  }

  std::uint64_t request_count() const { return request_count_.load(); }

  bool wait_for_requests(std::uint64_t count, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(records_mutex_);
    waiters_.fetch_add(1);
    const bool reached =
        records_cv_.wait_for(lock, timeout, [&] { return request_count_.load() >= count; });
    waiters_.fetch_sub(1);
    return reached;
  }

  void clear() {
    std::lock_guard lock(records_mutex_);
    records_.clear();
    request_count_.store(0);
  }

  // Figures.
  std::int64_t current_concurrent() const { return current_concurrent_.load(); }
  std::int64_t max_concurrent() const { return max_concurrent_.load(); }
  void reset_max_concurrent() { max_concurrent_.store(current_concurrent_.load()); }
  std::uint64_t connection_count() const { return connection_count_.load(); }

  void reset_stats() {
    clear();
    reset_max_concurrent();
    connection_count_.store(0);
  }

 private:
  struct Route {
    std::deque<StepPtr> queue;
    StepPtr fallback;  // null: the main default
  };

  // Counts one request as in flight for its lifetime and keeps the maximum.
  class InFlight {
   public:
    explicit InFlight(Impl& impl) : impl_(impl) {
      const std::int64_t now = impl_.current_concurrent_.fetch_add(1) + 1;
      std::int64_t seen = impl_.max_concurrent_.load();
      while (now > seen && !impl_.max_concurrent_.compare_exchange_weak(seen, now)) {
      }
    }
    ~InFlight() { impl_.current_concurrent_.fetch_sub(1); }
    InFlight(const InFlight&) = delete;
    InFlight& operator=(const InFlight&) = delete;

   private:
    Impl& impl_;
  };

  asio::awaitable<void> accept_loop() {
    std::size_t next = 0;
    asio::steady_timer backoff(acceptor_->get_executor());
    for (;;) {
      asio::any_io_executor executor = contexts_[next++ % contexts_.size()]->get_executor();
      auto [error, socket] = co_await acceptor_->async_accept(executor, kUseTuple);
      if (error == asio::error::operation_aborted) co_return;
      if (error) {
        // Out of descriptors and the like: wait a little rather than spin on the error.
        backoff.expires_after(std::chrono::milliseconds(10));
        co_await backoff.async_wait(kUseTuple);
        continue;
      }
      // Taken before the move: a moved-from socket has no executor.
      const asio::any_io_executor socket_executor = socket.get_executor();
      asio::co_spawn(socket_executor, serve(std::move(socket)), asio::detached);
    }
  }

  // One connection: read a request, answer it, and so on. Strictly one request at a time, so
  // pipelined requests wait in the buffer and get their answers in order.
  asio::awaitable<void> serve(tcp::socket socket) {
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    beast::flat_buffer buffer;
    asio::steady_timer timer(socket.get_executor());
    std::uint64_t connection = 0;  // given on the first counted request
    std::uint64_t index_on_connection = 0;

    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(kHeaderLimit);
      parser.body_limit(options_.max_body_bytes);
      const beast::error_code read_error = co_await read_request(socket, buffer, parser);
      if (read_error) {
        // A client that closes between requests is the normal end; a malformed request gets an
        // answer so that a test sees what went wrong.
        if (read_error == http::error::body_limit) {
          co_await write_plain(socket, http::status::payload_too_large, "body too large\n");
        } else if (is_malformed(read_error)) {
          co_await write_plain(socket, http::status::bad_request, read_error.message() + "\n");
        }
        co_return;
      }
      auto& request = parser.get();
      const bool keep_alive = request.keep_alive();

      if (options_.control_endpoints &&
          request.target().substr(0, kControlPrefix.size()) == kControlPrefix) {
        auto response = control(request);
        response.keep_alive(keep_alive);
        auto [write_error, written] = co_await http::async_write(socket, response, kUseTuple);
        if (write_error || !keep_alive) break;
        continue;
      }

      InFlight in_flight(*this);
      if (connection == 0) {
        connection = next_connection_id_.fetch_add(1) + 1;
        connection_count_.fetch_add(1);
      }
      ++index_on_connection;
      const StepPtr step = next_step(strip_query(request.target()));
      const bool head = request.method() == http::verb::head;
      note_request(request, connection, index_on_connection);

      if (step->delay.count() > 0) {
        timer.expires_after(step->delay);
        co_await timer.async_wait(kUseTuple);
      }
      switch (step->kind) {
        case StubStep::Kind::kRespond:
          break;
        case StubStep::Kind::kHang:
          co_await wait_until_peer_closes(socket);
          co_return;
        case StubStep::Kind::kCloseConnection:
          socket.shutdown(tcp::socket::shutdown_both, ignored);
          socket.close(ignored);
          co_return;
        case StubStep::Kind::kResetConnection:
          // Linger 0 makes close() send RST instead of FIN.
          socket.set_option(tcp::socket::linger(true, 0), ignored);
          socket.close(ignored);
          co_return;
      }

      http::response<http::string_body> response(static_cast<http::status>(step->status),
                                                 request.version());
      for (const auto& [name, value] : step->headers) response.insert(name, value);
      response.keep_alive(keep_alive);
      if (step->status != 204 && step->status != 304) {
        response.content_length(step->body.size());
        // A HEAD answer announces the length but carries no body.
        if (!head) response.body() = step->body;
      }
      auto [write_error, written] = co_await http::async_write(socket, response, kUseTuple);
      if (write_error || !keep_alive) break;
    }
    socket.shutdown(tcp::socket::shutdown_send, ignored);
  }

  // Reads one request. Answers "Expect: 100-continue" first: curl sends it with bodies over
  // 1 KiB and would otherwise wait a second before sending the body.
  static asio::awaitable<beast::error_code> read_request(
      tcp::socket& socket, beast::flat_buffer& buffer,
      http::request_parser<http::string_body>& parser) {
    auto [header_error, header_bytes] =
        co_await http::async_read_header(socket, buffer, parser, kUseTuple);
    if (header_error || parser.is_done()) co_return header_error;
    if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
      http::response<http::empty_body> go_on(http::status::continue_, 11);
      auto [write_error, written] = co_await http::async_write(socket, go_on, kUseTuple);
      if (write_error) co_return write_error;
    }
    auto [body_error, body_bytes] = co_await http::async_read(socket, buffer, parser, kUseTuple);
    co_return body_error;
  }

  asio::awaitable<void> write_plain(tcp::socket& socket, http::status status, std::string body) {
    http::response<http::string_body> response(status, 11);
    response.set(http::field::content_type, "text/plain");
    response.keep_alive(false);
    response.body() = std::move(body);
    response.prepare_payload();
    co_await http::async_write(socket, response, kUseTuple);
  }

  // A hung request is over when the client gives up; whatever else it sends is never answered.
  static asio::awaitable<void> wait_until_peer_closes(tcp::socket& socket) {
    std::array<char, 4096> discard;
    for (;;) {
      auto [error, bytes] = co_await socket.async_read_some(asio::buffer(discard), kUseTuple);
      if (error) co_return;
    }
  }

  http::response<http::string_body> control(const http::request<http::string_body>& request) {
    const std::string_view path = strip_query(request.target());
    http::response<http::string_body> response(http::status::ok, request.version());
    if (path == "/_stub/stats") {
      if (request.method() != http::verb::get) {
        response.result(http::status::method_not_allowed);
        response.set(http::field::allow, "GET");
      } else {
        boost::json::object stats;
        stats["requests"] = request_count();
        stats["max_concurrent"] = max_concurrent();
        stats["current_concurrent"] = current_concurrent();
        stats["connections"] = connection_count();
        response.set(http::field::content_type, "application/json");
        response.body() = boost::json::serialize(stats) + "\n";
      }
    } else if (path == "/_stub/reset") {
      if (request.method() != http::verb::post) {
        response.result(http::status::method_not_allowed);
        response.set(http::field::allow, "POST");
      } else {
        reset_stats();
        response.result(http::status::no_content);
        return response;
      }
    } else {
      response.result(http::status::not_found);
    }
    response.prepare_payload();
    return response;
  }

  StepPtr next_step(std::string_view path) {
    std::lock_guard lock(script_mutex_);
    if (!routes_.empty()) {
      if (auto route = routes_.find(path); route != routes_.end()) {
        if (!route->second.queue.empty()) return pop_front(route->second.queue);
        return route->second.fallback ? route->second.fallback : default_step_;
      }
    }
    if (!queue_.empty()) return pop_front(queue_);
    return default_step_;
  }

  static StepPtr pop_front(std::deque<StepPtr>& queue) {
    StepPtr step = std::move(queue.front());
    queue.pop_front();
    return step;
  }

  void note_request(http::request<http::string_body>& request, std::uint64_t connection,
                    std::uint64_t index_on_connection) {
    if (!options_.record && !options_.on_request) {
      request_count_.fetch_add(1);
    } else {
      RecordedRequest record;
      record.method = std::string(request.method_string());
      record.target = std::string(request.target());
      for (const auto& field : request) {
        record.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
      }
      record.body = std::move(request.body());
      record.received_at = std::chrono::system_clock::now();
      record.received_steady = std::chrono::steady_clock::now();
      record.connection = connection;
      record.index_on_connection = index_on_connection;
      if (options_.on_request) options_.on_request(record);
      if (options_.record) {
        // Counted under the lock so that clear() never leaves a count without its record.
        std::lock_guard lock(records_mutex_);
        records_.push_back(std::move(record));
        request_count_.fetch_add(1);
      } else {
        request_count_.fetch_add(1);
      }
    }
    // The fast path takes no lock: a waiter announces itself before it checks the count, and
    // both sides use sequentially consistent atomics, so either the waiter sees the new count
    // or this sees the waiter and wakes it under the lock.
    if (waiters_.load() > 0) {
      { std::lock_guard lock(records_mutex_); }
      records_cv_.notify_all();
    }
  }

  // Declared before the contexts: coroutines destroyed with a context still touch these.
  FunctionStubOptions options_;
  std::uint16_t port_ = 0;

  mutable std::mutex script_mutex_;
  std::deque<StepPtr> queue_;
  std::map<std::string, Route, std::less<>> routes_;
  StepPtr default_step_ = std::make_shared<const StubStep>();

  mutable std::mutex records_mutex_;
  mutable std::condition_variable records_cv_;
  mutable std::atomic<int> waiters_{0};
  std::vector<RecordedRequest> records_;
  std::atomic<std::uint64_t> request_count_{0};

  std::atomic<std::int64_t> current_concurrent_{0};
  std::atomic<std::int64_t> max_concurrent_{0};
  std::atomic<std::uint64_t> connection_count_{0};
  std::atomic<std::uint64_t> next_connection_id_{0};

  std::mutex stop_mutex_;
  bool stopped_ = false;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::optional<tcp::acceptor> acceptor_;
  std::vector<std::thread> threads_;
};

// --- FunctionStub ---------------------------------------------------------------------------

FunctionStub::FunctionStub(FunctionStubOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

FunctionStub::~FunctionStub() = default;

std::uint16_t FunctionStub::port() const { return impl_->port(); }

std::string FunctionStub::url(std::string_view path) const {
  const std::string& address = impl_->options().address;
  const bool v6 = address.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port()) +
         std::string(path);
}

void FunctionStub::stop() { impl_->stop(); }

void FunctionStub::enqueue(StubStep step) { impl_->enqueue(std::move(step)); }

void FunctionStub::enqueue_statuses(std::initializer_list<int> statuses) {
  for (int status : statuses) impl_->enqueue(StubStep::respond(status));
}

void FunctionStub::enqueue_for(std::string path, StubStep step) {
  impl_->enqueue_for(std::move(path), std::move(step));
}

void FunctionStub::always(int status, std::chrono::milliseconds delay) {
  impl_->always(StubStep::respond(status).with_delay(delay));
}

void FunctionStub::always(StubStep step) { impl_->always(std::move(step)); }

void FunctionStub::always_for(std::string path, StubStep step) {
  impl_->always_for(std::move(path), std::move(step));
}

void FunctionStub::clear_script() { impl_->clear_script(); }

std::size_t FunctionStub::pending_steps() const { return impl_->pending_steps(); }

std::vector<RecordedRequest> FunctionStub::requests() const { return impl_->requests(); }

std::uint64_t FunctionStub::request_count() const { return impl_->request_count(); }

bool FunctionStub::wait_for_requests(std::uint64_t count, std::chrono::milliseconds timeout) const {
  return impl_->wait_for_requests(count, timeout);
}

void FunctionStub::clear() { impl_->clear(); }

std::int64_t FunctionStub::current_concurrent() const { return impl_->current_concurrent(); }

std::int64_t FunctionStub::max_concurrent() const { return impl_->max_concurrent(); }

void FunctionStub::reset_max_concurrent() { impl_->reset_max_concurrent(); }

std::uint64_t FunctionStub::connection_count() const { return impl_->connection_count(); }

void FunctionStub::reset_stats() { impl_->reset_stats(); }

}  // namespace triggerd::testing
