#include "core/host_lookup.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>

namespace triggerd {

namespace asio = boost::asio;

namespace {

// Shared by the waiting coroutine and the lookup thread.
struct Lookup {
  std::mutex mutex;
  // The coroutine still waits, so the io_context is alive to post the answer to. Cleared,
  // under the mutex, as soon as it stops waiting (answered, deadline, cancelled, or its frame
  // destroyed with the io_context).
  bool waiting = true;
  asio::any_io_executor executor;
  // Written by the thread before it posts the answer; read on the io_context after that.
  int status = 0;
  std::vector<std::string> addresses;
  // On the io_context only.
  bool answered = false;
  asio::steady_timer* wait = nullptr;
};

void run_lookup(const std::shared_ptr<Lookup>& lookup, const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int status = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  std::vector<std::string> addresses;
  for (const addrinfo* at = found; at != nullptr; at = at->ai_next) {
    std::array<char, NI_MAXHOST> text{};
    if (getnameinfo(at->ai_addr, at->ai_addrlen, text.data(), text.size(), nullptr, 0,
                    NI_NUMERICHOST) != 0) {
      continue;
    }
    std::string address(text.data());
    if (std::find(addresses.begin(), addresses.end(), address) == addresses.end()) {
      addresses.push_back(std::move(address));
    }
  }
  if (found != nullptr) freeaddrinfo(found);
  const std::lock_guard<std::mutex> lock(lookup->mutex);
  if (!lookup->waiting) return;
  lookup->status = status;
  lookup->addresses = std::move(addresses);
  asio::post(lookup->executor, [lookup] {
    lookup->answered = true;
    if (lookup->wait != nullptr) lookup->wait->cancel();
  });
}

// Marks the lookup as no longer waited for, however the waiting coroutine ends.
struct StopWaiting {
  Lookup& lookup;
  ~StopWaiting() {
    lookup.wait = nullptr;
    const std::lock_guard<std::mutex> lock(lookup.mutex);
    lookup.waiting = false;
  }
};

}  // namespace

asio::awaitable<std::vector<std::string>> look_up_host(
    asio::steady_timer& wait, std::string host, std::chrono::steady_clock::time_point deadline,
    std::string& error) {
  std::vector<std::string> addresses;
  boost::system::error_code not_numeric;
  const asio::ip::address numeric = asio::ip::make_address(host, not_numeric);
  if (!not_numeric) {
    addresses.push_back(numeric.to_string());
    co_return addresses;
  }
  auto lookup = std::make_shared<Lookup>();
  lookup->executor = wait.get_executor();
  lookup->wait = &wait;
  const StopWaiting stop_waiting{*lookup};
  try {
    std::thread(run_lookup, lookup, host).detach();
  } catch (const std::system_error& failure) {
    error = "cannot look up " + host + ": " + failure.what();
    co_return addresses;
  }
  wait.expires_at(deadline);
  co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
  if (!lookup->answered) {
    error = std::chrono::steady_clock::now() >= deadline ? "looking up " + host + " took too long"
                                                         : "closed while looking up " + host;
    co_return addresses;
  }
  if (lookup->status != 0 || lookup->addresses.empty()) {
    error = "cannot look up " + host + ": " +
            (lookup->status != 0 ? gai_strerror(lookup->status) : "no address");
    co_return addresses;
  }
  addresses = std::move(lookup->addresses);
  co_return addresses;
}

}  // namespace triggerd
