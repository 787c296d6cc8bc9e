#include "core/tcp_listener.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <stdexcept>
#include <string>

namespace triggerd {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

void listen_on(tcp::acceptor& acceptor, const HostPort& address,
               std::string_view setting) {
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
    auto results = resolver.resolve(address.host, std::to_string(address.port),
                                    tcp::resolver::passive, error);
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
}

asio::awaitable<std::optional<tcp::socket>> accept_next(tcp::acceptor& acceptor,
                                                       std::string_view who,
                                                       spdlog::logger& log) {
  constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
  constexpr auto kRetryDelay = std::chrono::milliseconds(100);
  while (acceptor.is_open()) {
    auto [error, socket] = co_await acceptor.async_accept(kAsTuple);
    if (!error) co_return std::move(socket);
    if (error == asio::error::operation_aborted || !acceptor.is_open()) break;
    log.warn("{}: accept failed: {}", who, error.message());
    asio::steady_timer pause(acceptor.get_executor(), kRetryDelay);
    co_await pause.async_wait(kAsTuple);
  }
  co_return std::nullopt;
}

}  // namespace triggerd
