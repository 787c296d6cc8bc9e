#pragma once
// A TCP proxy for fault tests: it listens on 127.0.0.1 (a port the kernel picks), forwards each
// connection to a target, and can be switched from the test's thread, while traffic flows,
// into the network faults a deployment meets: added latency, connections reset after some
// bytes, a black hole that swallows requests, refused connections, and live connections cut.
//
// It runs on a thread of its own (one poll loop over plain sockets) and knows nothing of
// triggerd or HTTP, so it can stand between triggerd and a function, a dead letter, or any other
// TCP server. Every switch returns once the proxy thread has applied it: the test's next step
// already meets the new behaviour.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace triggerd::testing {

struct FaultProxyStats {
  std::uint64_t accepted = 0;         // connections accepted (black-holed ones included)
  std::uint64_t bytes_to_target = 0;  // forwarded from clients to the target
  std::uint64_t bytes_to_client = 0;  // forwarded from the target to clients
  std::uint64_t swallowed = 0;        // bytes read in a black hole and never forwarded
  std::uint64_t resets = 0;           // connections the proxy aborted with a RST
  std::uint64_t open = 0;             // connections open now
};

class FaultProxy {
 public:
  // Starts forwarding to TARGET_HOST:TARGET_PORT (a numeric IPv4 address) at once, in
  // pass-through. Throws std::runtime_error when it cannot listen.
  explicit FaultProxy(std::uint16_t target_port, std::string target_host = "127.0.0.1");
  // Closes the listener and every connection, and joins the thread.
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  std::uint16_t port() const { return port_; }
  // "127.0.0.1:PORT".
  std::string address() const;
  // "http://127.0.0.1:PORT" followed by `path`: the proxy as a function's or dead letter's URL.
  std::string url(std::string_view path = "/") const;

  // --- Modes: each replaces the one before --------------------------------------------------
  // Forwards everything as it comes. Connections already swallowed by a black hole stay so:
  // what they lost cannot be given back, so only new connections pass.
  void pass();
  // Holds every chunk read from then on for `delay` before forwarding it, in both directions
  // (a request and its answer each wait once), in order.
  void add_latency(std::chrono::milliseconds delay);
  // Every open connection, and each new one, may forward `bytes` more bytes (both directions
  // together); then it is aborted with a RST on both sides. 0 resets new connections as they
  // are accepted. A small value cuts a request before its end, so the server never sees it.
  void reset_after(std::size_t bytes);
  // Accepts and reads, but never forwards or answers: open connections and new ones swallow
  // what they are sent until the client gives up (or cut()). The target gets nothing more.
  void black_hole();
  // Stops listening: new connections are refused (ECONNREFUSED) until another mode is set,
  // which listens again on the same port. Open connections are left as they are: cut() them
  // too to refuse an existing keep-alive pool.
  void refuse();

  // --- Actions ------------------------------------------------------------------------------
  // Aborts every open connection now (RST to the client and to the target). The mode stays.
  void cut();

  FaultProxyStats stats() const;

 private:
  class Loop;
  std::unique_ptr<Loop> loop_;
  std::uint16_t port_ = 0;
};

}  // namespace triggerd::testing
