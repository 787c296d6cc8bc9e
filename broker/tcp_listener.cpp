#include "broker/tcp_listener.hpp"

#include <boost/asio/ip/address.hpp>

#include <stdexcept>
#include <string>

namespace triggerd {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

void listen_on(tcp::acceptor& acceptor, const config::HostPort& address,
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

}  // namespace triggerd
