#pragma once
// Opening a listening socket for one of the config's listen addresses, and taking its
// connections, shared by the admin server and the webhook ingress so that both fail the same
// clear way at start-up and weather accept errors the same way.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <optional>
#include <string_view>

#include "core/host_port.hpp"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace triggerd {

// Resolves `address` (an IP literal, or a host name resolved once, at start-up), then opens,
// binds and listens `acceptor`. Throws std::runtime_error such as
// "cannot listen on server.admin_listen 127.0.0.1:9090: bind: Address already in use",
// where `setting` names the config key.
void listen_on(boost::asio::ip::tcp::acceptor& acceptor, const HostPort& address,
               std::string_view setting);

// The next connection on `acceptor`; empty once the acceptor is closed (the owner stops).
// Any other accept error (out of file descriptors and the like) is logged as `who` and
// followed by a short pause before the next try, rather than a spin on the error.
boost::asio::awaitable<std::optional<boost::asio::ip::tcp::socket>> accept_next(
    boost::asio::ip::tcp::acceptor& acceptor, std::string_view who, spdlog::logger& log);

}  // namespace triggerd
