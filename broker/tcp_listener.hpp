#pragma once
// Opening a listening socket for one of the config's listen addresses, shared by the admin
// server and the webhook ingress so that both fail the same clear way at start-up.
#include <boost/asio/ip/tcp.hpp>

#include <string_view>

#include "config/config.hpp"

namespace triggerd {

// Resolves `address` (an IP literal, or a host name resolved once, at start-up), then opens,
// binds and listens `acceptor`. Throws std::runtime_error such as
// "cannot listen on server.admin_listen 127.0.0.1:9090: bind: Address already in use",
// where `setting` names the config key.
void listen_on(boost::asio::ip::tcp::acceptor& acceptor, const config::HostPort& address,
               std::string_view setting);

}  // namespace triggerd
