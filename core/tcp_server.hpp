#pragma once
// The listening side that the admin server and the webhook ingress share: a socket listening
// on one of the config's addresses, the loop that takes its connections, the list of open
// ones (counted against a limit, and closed all at once by stop()), and the coroutines that
// serve them. What a connection carries is its owner's business: the owner gets each accepted
// socket in a coroutine of its own.
//
// Everything runs on the io_context's thread (or before it runs).
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>

#include "core/host_port.hpp"
#include "core/task_group.hpp"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace spdlog {
class logger;
}  // namespace spdlog

namespace triggerd {

class TcpServer {
 public:
  // Serves one accepted connection until it ends.
  using Serve = std::function<boost::asio::awaitable<void>(boost::asio::ip::tcp::socket)>;

  // `who` names the server in log lines ("admin server: accept failed: ..."). A connection
  // accepted while `max_connections` are open is closed at once. `count_failure` counts a
  // coroutine of the server that ended with an exception (none should: the data path does not
  // throw), as a TaskGroup does.
  TcpServer(boost::asio::io_context& io, std::string who, std::shared_ptr<spdlog::logger> log,
            std::size_t max_connections, TaskGroup::FailureCounter count_failure);
  ~TcpServer();
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;

  // Resolves `address` (an IP literal, or a host name resolved once, at start-up), then binds
  // and listens (port 0 picks a free port). Throws std::runtime_error such as
  // "cannot listen on server.admin_listen 127.0.0.1:9090: bind: Address already in use",
  // where `setting` names the config key.
  void listen(const HostPort& address, std::string_view setting);

  // The bound port, after listen(); the one chosen when asked for port 0.
  std::uint16_t port() const;

  // Accepts connections until stop_accepting() or stop(), and spawns `serve` for each. The
  // loop keeps `serve` (and what it holds) until it ends. Accept errors other than the
  // listener closing (out of file descriptors and the like) are logged and followed by a
  // short pause, rather than a spin on the error.
  void start(Serve serve);

  // Closes the listener: the OS refuses new connections; the open ones go on. Idempotent.
  void stop_accepting();
  // Closes the listener and every open connection: each one's pending operation ends with
  // operation_aborted, cutting whatever it was reading or writing. Idempotent.
  void stop();

  // Read on every request: inline.
  bool draining() const { return draining_; }  // stop_accepting() or stop() was called
  bool stopped() const { return stopped_; }    // stop() was called
  std::size_t open_connections() const;
  std::uint64_t connections_refused() const;  // closed at once: max_connections were open

  // Keeps a connection in the list of open ones (for the limit and for stop()) for as long
  // as it lives. Made by track(), in the coroutine that serves the connection.
  class OpenConnection {
   public:
    ~OpenConnection();
    OpenConnection(const OpenConnection&) = delete;
    OpenConnection& operator=(const OpenConnection&) = delete;

   private:
    friend class TcpServer;
    using List = std::list<boost::asio::ip::tcp::socket*>;
    OpenConnection(List& list, boost::asio::ip::tcp::socket& socket);
    List& list_;
    List::iterator position_;
  };
  // `socket` is where the connection's socket lives while it is served (a stream's socket()).
  [[nodiscard]] OpenConnection track(boost::asio::ip::tcp::socket& socket);

 private:
  struct State;
  // Shared with the coroutines of the loop and of the connections, which may end after the
  // server is gone.
  std::shared_ptr<State> state_;
  bool draining_ = false;
  bool stopped_ = false;
};

}  // namespace triggerd
