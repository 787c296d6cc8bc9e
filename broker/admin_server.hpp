#pragma once
// The admin HTTP server on server.admin_listen (docs/admin-api.md): /metrics, /livez, /readyz,
// /v1/triggers, /v1/triggers/NAME and /v1/config. HTTP/1.1 with keep-alive, GET only. With
// server.admin_auth, every route but the probes' needs the bearer token.
//
// Beast stays inside admin_server.cpp (a Beast translation unit takes long to compile), so
// this header only forward-declares what it needs.
#include <cstdint>
#include <memory>
#include <optional>

#include "config/config.hpp"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace triggerd {

class Health;
class Metrics;
struct ConfigStatus;

class AdminServer {
 public:
  // `metrics`, `health` and `config_status` must outlive the server; /v1/config shows what
  // `config_status` holds at the moment of each request. Nothing runs before start().
  AdminServer(boost::asio::io_context& io, Metrics& metrics, const Health& health,
              const ConfigStatus& config_status);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds `address` (port 0 picks a free port) and starts accepting on the io_context.
  // Throws std::runtime_error naming the address when it cannot listen (port in use, an
  // address this host does not have, a name that does not resolve). Start-up only.
  void start(const config::HostPort& address);

  // From now on every route but /livez and /readyz asks for `Authorization: Bearer TOKEN`
  // (a wrong or missing one gets 401); nullopt: open. On the io_context's thread.
  void set_auth(std::optional<config::BearerAuth> auth);

  // The bound port, after start(); the one chosen when asked for port 0.
  std::uint16_t port() const;

  // Stops accepting and closes every connection, cutting any response being written.
  // Idempotent; the io_context can then run out of work.
  void stop();

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;  // shared with the connection coroutines that use it
};

}  // namespace triggerd
