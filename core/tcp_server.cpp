#include "core/tcp_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <utility>

#include "core/net_names.hpp"

namespace triggerd {

namespace {

constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

}  // namespace

struct TcpServer::State {
  State(asio::io_context& io, std::string who, std::shared_ptr<spdlog::logger> log,
        std::size_t max_connections, TaskGroup::FailureCounter count_failure)
      : acceptor_(io),
        who_(std::move(who)),
        log_(std::move(log)),
        max_connections_(max_connections),
        tasks_(io.get_executor(), who_, std::move(count_failure)) {}

  // The next connection; empty once the listener is closed.
  asio::awaitable<std::optional<tcp::socket>> accept_next() {
    constexpr auto kRetryDelay = std::chrono::milliseconds(100);
    while (acceptor_.is_open()) {
      auto [error, socket] = co_await acceptor_.async_accept(kAsTuple);
      if (!error) co_return std::move(socket);
      if (error == asio::error::operation_aborted || !acceptor_.is_open()) break;
      log_->warn("{}: accept failed: {}", who_, error.message());
      asio::steady_timer pause(acceptor_.get_executor(), kRetryDelay);
      co_await pause.async_wait(kAsTuple);
    }
    co_return std::nullopt;
  }

  static asio::awaitable<void> accept_loop(std::shared_ptr<State> self, Serve serve) {
    for (;;) {
      std::optional<tcp::socket> socket = co_await self->accept_next();
      // A connection accepted just before the listener closed is not served either.
      if (!socket || !self->acceptor_.is_open()) break;
      if (self->connections_.size() >= self->max_connections_) {
        ++self->refused_;
        self->log_->debug("{}: {} connections open, closing a new one", self->who_,
                          self->connections_.size());
        continue;  // the socket closes as it goes out of scope
      }
      self->tasks_.spawn("connection", serve(std::move(*socket)));
    }
  }

  void close_listener() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  }

  tcp::acceptor acceptor_;
  const std::string who_;
  const std::shared_ptr<spdlog::logger> log_;
  const std::size_t max_connections_;
  // The accept loop and the connections: none throws by design; should one (bad_alloc, a bug),
  // it is logged instead of vanishing with its coroutine.
  TaskGroup tasks_;
  OpenConnection::List connections_;
  std::uint64_t refused_ = 0;
  std::uint16_t port_ = 0;
};

TcpServer::TcpServer(asio::io_context& io, std::string who, std::shared_ptr<spdlog::logger> log,
                     std::size_t max_connections, TaskGroup::FailureCounter count_failure)
    : state_(std::make_shared<State>(io, std::move(who), std::move(log), max_connections,
                                     std::move(count_failure))) {}

TcpServer::~TcpServer() = default;

void TcpServer::listen(const HostPort& address, std::string_view setting) {
  tcp::acceptor& acceptor = state_->acceptor_;
  boost::system::error_code error;
  auto fail = [&](const std::string& step) {
    throw std::runtime_error("cannot listen on " + std::string(setting) + " " +
                             address.to_string() + ": " + step);
  };
  tcp::endpoint endpoint;
  const asio::ip::address ip = asio::ip::make_address(address.host, error);
  if (!error) {
    endpoint = {ip, address.port};
  } else {
    tcp::resolver resolver(acceptor.get_executor());
    auto results =
        resolver.resolve(address.host, std::to_string(address.port), tcp::resolver::passive, error);
    if (error || results.empty()) {
      fail("cannot resolve host: " + (error ? error.message() : std::string("no address")));
    }
    endpoint = results.begin()->endpoint();
  }
  auto check = [&](const char* step) {
    if (error) fail(std::string(step) + ": " + error.message());
  };
  acceptor.open(endpoint.protocol(), error);
  check("open");
  // Lets a restarted triggerd bind while connections of the old one sit in TIME_WAIT; Linux
  // still refuses a port that another process listens on.
  acceptor.set_option(asio::socket_base::reuse_address(true), error);
  check("setsockopt");
  acceptor.bind(endpoint, error);
  check("bind");
  acceptor.listen(asio::socket_base::max_listen_connections, error);
  check("listen");
  state_->port_ = acceptor.local_endpoint().port();
}

std::uint16_t TcpServer::port() const { return state_->port_; }

void TcpServer::start(Serve serve) {
  state_->tasks_.spawn("accept loop", State::accept_loop(state_, std::move(serve)));
}

void TcpServer::stop_accepting() {
  if (draining_) return;
  draining_ = true;
  state_->close_listener();
  state_->log_->info("{}: no longer accepting; {} connection(s) open", state_->who_,
                     state_->connections_.size());
}

void TcpServer::stop() {
  if (stopped_) return;
  stopped_ = draining_ = true;
  state_->close_listener();
  // Each connection's pending operation completes with operation_aborted; its coroutine then
  // ends and leaves the list (later, not during this loop).
  boost::system::error_code ignored;
  for (tcp::socket* socket : state_->connections_) {
    socket->shutdown(tcp::socket::shutdown_both, ignored);
    socket->close(ignored);
  }
}

std::size_t TcpServer::open_connections() const { return state_->connections_.size(); }

std::uint64_t TcpServer::connections_refused() const { return state_->refused_; }

TcpServer::OpenConnection TcpServer::track(tcp::socket& socket) {
  return OpenConnection(state_->connections_, socket);
}

TcpServer::OpenConnection::OpenConnection(List& list, tcp::socket& socket)
    : list_(list), position_(list.insert(list.end(), &socket)) {}

TcpServer::OpenConnection::~OpenConnection() { list_.erase(position_); }

}  // namespace triggerd
