#include "tests/support/fault_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace triggerd::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadSize = 64 * 1024;
// A side stops being read while this much waits to be forwarded from it, so a slow or held
// peer cannot make the proxy grow without bound.
constexpr std::size_t kMaxQueued = 1024 * 1024;

enum class Mode { kPass, kLatency, kResetAfter, kBlackHole, kRefuse };

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Linger 0 makes close() send a RST instead of a FIN: the peer's next read or write fails
// with "connection reset".
void abort_fd(int& fd) {
  if (fd < 0) return;
  const linger hard{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
  close_fd(fd);
}

struct Chunk {
  std::string bytes;
  Clock::time_point due;
};

// One way of one connection: what was read from one side and waits to be written to the other.
struct Direction {
  std::deque<Chunk> queue;
  std::size_t queued = 0;
  bool eof = false;   // the side it reads from sent its FIN
  bool shut = false;  // that FIN was passed on (shutdown of the writing side)

  void push(std::string bytes, Clock::time_point due) {
    queued += bytes.size();
    queue.push_back(Chunk{std::move(bytes), due});
  }
  void clear() {
    queue.clear();
    queued = 0;
  }
  bool has_due(Clock::time_point now) const { return !queue.empty() && queue.front().due <= now; }
};

struct Connection {
  int client = -1;
  int target = -1;
  bool connecting = false;
  bool black_hole = false;
  std::optional<std::size_t> budget;  // bytes it may still forward before its reset
  Direction up;                       // client -> target
  Direction down;                     // target -> client
  bool done = false;                  // closed; removed at the end of the loop turn
};

struct Command {
  enum class Kind { kMode, kCut, kStop };
  Kind kind = Kind::kMode;
  Mode mode = Mode::kPass;
  std::chrono::milliseconds delay{0};
  std::size_t bytes = 0;
};

int listen_on(std::uint16_t port, std::uint16_t* bound_port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(errno_text("fault proxy: socket"));
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  socklen_t length = sizeof(address);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(fd, 512) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const std::string error = errno_text("fault proxy: listen on 127.0.0.1");
    ::close(fd);
    throw std::runtime_error(error + ":" + std::to_string(port));
  }
  *bound_port = ntohs(address.sin_port);
  return fd;
}

}  // namespace

class FaultProxy::Loop {
 public:
  Loop(std::uint16_t target_port, const std::string& target_host) {
    target_.sin_family = AF_INET;
    target_.sin_port = htons(target_port);
    if (::inet_pton(AF_INET, target_host.c_str(), &target_.sin_addr) != 1) {
      throw std::runtime_error("fault proxy: not a numeric IPv4 address: " + target_host);
    }
    listener_ = listen_on(0, &port_);
    wake_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_ < 0) {
      close_fd(listener_);
      throw std::runtime_error(errno_text("fault proxy: eventfd"));
    }
    thread_ = std::thread([this] { run(); });
  }

  ~Loop() {
    try {
      submit(Command{.kind = Command::Kind::kStop});
    } catch (...) {  // NOLINT(bugprone-empty-catch): stopping cannot fail in a way to report
    }
    if (thread_.joinable()) thread_.join();
    for (auto& connection : connections_) close_connection(*connection);
    close_fd(listener_);
    close_fd(wake_);
  }

  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  std::uint16_t port() const { return port_; }

  // Hands `command` to the loop and waits until it was applied; rethrows what it failed with.
  void submit(Command command) {
    std::unique_lock lock(mutex_);
    const std::uint64_t ticket = ++submitted_;
    commands_.push_back(command);
    const std::uint64_t one = 1;
    if (::write(wake_, &one, sizeof(one)) < 0 && errno != EAGAIN) {
      throw std::runtime_error(errno_text("fault proxy: wake"));
    }
    applied_cv_.wait(lock, [&] { return applied_ >= ticket || !running_; });
    if (!error_.empty()) {
      std::string error = std::move(error_);
      error_.clear();
      throw std::runtime_error(error);
    }
  }

  FaultProxyStats stats() const {
    return FaultProxyStats{.accepted = accepted_.load(),
                           .bytes_to_target = bytes_to_target_.load(),
                           .bytes_to_client = bytes_to_client_.load(),
                           .swallowed = swallowed_.load(),
                           .resets = resets_.load(),
                           .open = open_.load()};
  }

 private:
  void run() {
    std::vector<pollfd> fds;
    // Per entry of `fds` past the first two: the connection it belongs to, and whether it is the
    // client's socket (else the target's).
    std::vector<std::pair<Connection*, bool>> owners;
    while (running_) {
      const Clock::time_point now = Clock::now();
      std::optional<Clock::time_point> next_due;
      auto note_due = [&](const Direction& direction) {
        if (!direction.queue.empty() && direction.queue.front().due > now) {
          next_due =
              std::min(next_due.value_or(direction.queue.front().due), direction.queue.front().due);
        }
      };
      fds.clear();
      owners.clear();
      fds.push_back(pollfd{wake_, POLLIN, 0});
      fds.push_back(pollfd{listener_, POLLIN, 0});  // a negative fd is skipped by poll()
      for (auto& owned : connections_) {
        Connection& c = *owned;
        short client_events = 0;
        short target_events = 0;
        // A client is read once its target is connected, so that what it sends can be passed
        // on (and counted against a reset budget) as it arrives.
        if (!c.up.eof && (c.black_hole || (!c.connecting && c.up.queued < kMaxQueued))) {
          client_events |= POLLIN;
        }
        if (c.down.has_due(now)) client_events |= POLLOUT;
        if (c.target >= 0) {
          if (c.connecting) {
            target_events |= POLLOUT;
          } else {
            if (!c.down.eof && (c.black_hole || c.down.queued < kMaxQueued)) {
              target_events |= POLLIN;
            }
            if (c.up.has_due(now)) target_events |= POLLOUT;
          }
        }
        note_due(c.up);
        note_due(c.down);
        fds.push_back(pollfd{c.client, client_events, 0});
        owners.emplace_back(&c, true);
        if (c.target >= 0) {
          fds.push_back(pollfd{c.target, target_events, 0});
          owners.emplace_back(&c, false);
        }
      }
      int timeout_ms = -1;
      if (next_due) {
        const auto wait = std::chrono::ceil<std::chrono::milliseconds>(*next_due - now);
        timeout_ms = static_cast<int>(std::max<std::chrono::milliseconds::rep>(0, wait.count()));
      }
      if (::poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) break;

      for (std::size_t i = 2; i < fds.size(); ++i) {
        auto [connection, is_client] = owners[i - 2];
        if (connection->done || fds[i].revents == 0) continue;
        if (is_client) {
          on_client(*connection, fds[i].revents);
        } else {
          on_target(*connection, fds[i].revents);
        }
      }
      const Clock::time_point after = Clock::now();
      for (auto& connection : connections_) {
        if (!connection->done) settle(*connection, after);
      }
      std::erase_if(connections_, [](const auto& c) { return c->done; });
      if (fds[1].revents != 0 && listener_ >= 0) accept_all();
      open_ = connections_.size();
      if (fds[0].revents != 0) apply_commands();
    }
    std::lock_guard lock(mutex_);
    running_ = false;
    applied_cv_.notify_all();
  }

  void apply_commands() {
    std::uint64_t drained = 0;
    while (::read(wake_, &drained, sizeof(drained)) > 0) {
    }
    std::deque<Command> commands;
    {
      std::lock_guard lock(mutex_);
      commands.swap(commands_);
    }
    std::string error;
    for (const Command& command : commands) {
      try {
        apply(command);
      } catch (const std::exception& e) {
        error = e.what();
      }
    }
    std::erase_if(connections_, [](const auto& c) { return c->done; });
    open_ = connections_.size();
    std::lock_guard lock(mutex_);
    applied_ += commands.size();
    if (!error.empty()) error_ = error;
    applied_cv_.notify_all();
  }

  void apply(const Command& command) {
    switch (command.kind) {
      case Command::Kind::kStop:
        running_ = false;
        return;
      case Command::Kind::kCut:
        for (auto& connection : connections_) abort_connection(*connection);
        return;
      case Command::Kind::kMode:
        break;
    }
    mode_ = command.mode;
    delay_ = command.delay;
    budget_ = command.bytes;
    if (mode_ == Mode::kRefuse) {
      close_fd(listener_);
    } else if (listener_ < 0) {
      std::uint16_t bound = 0;
      listener_ = listen_on(port_, &bound);
    }
    for (auto& owned : connections_) {
      Connection& c = *owned;
      c.budget.reset();
      if (mode_ == Mode::kBlackHole && !c.black_hole) {
        swallowed_ += c.up.queued + c.down.queued;
        c.up.clear();
        c.down.clear();
        c.black_hole = true;
      } else if (mode_ == Mode::kResetAfter && !c.black_hole) {
        c.budget = budget_;
        if (budget_ == 0) abort_connection(c);
      }
    }
  }

  void accept_all() {
    for (;;) {
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN, or a connection that went away before it was taken
      ++accepted_;
      auto connection = std::make_unique<Connection>();
      Connection& c = *connection;
      c.client = fd;
      if (mode_ == Mode::kBlackHole) {
        c.black_hole = true;
        connections_.push_back(std::move(connection));
        continue;
      }
      if (mode_ == Mode::kResetAfter) {
        if (budget_ == 0) {
          abort_connection(c);
          continue;
        }
        c.budget = budget_;
      }
      c.target = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (c.target < 0 ||
          (::connect(c.target, reinterpret_cast<const sockaddr*>(&target_), sizeof(target_)) != 0 &&
           errno != EINPROGRESS)) {
        abort_connection(c);  // the target is down: the client sees a reset, as from a dead host
        continue;
      }
      c.connecting = true;
      connections_.push_back(std::move(connection));
    }
  }

  void on_client(Connection& c, short revents) {
    if ((revents & (POLLIN | POLLHUP | POLLERR)) != 0 && !c.up.eof) {
      if (!read_side(c, c.client, c.up, true)) return;
    } else if ((revents & (POLLHUP | POLLERR)) != 0 && !c.down.has_due(Clock::now())) {
      // The client is gone for good and nothing is about to be written to it.
      close_connection(c);
      return;
    }
    if ((revents & POLLOUT) != 0) write_due(c, c.client, c.down, Clock::now());
  }

  void on_target(Connection& c, short revents) {
    if (c.connecting) {
      int error = 0;
      socklen_t length = sizeof(error);
      ::getsockopt(c.target, SOL_SOCKET, SO_ERROR, &error, &length);
      if (error != 0 || (revents & POLLOUT) == 0) {
        abort_connection(c);  // refused, or hung up before it was connected
        return;
      }
      c.connecting = false;
      return;
    }
    if ((revents & (POLLIN | POLLHUP | POLLERR)) != 0 && !c.down.eof) {
      if (!read_side(c, c.target, c.down, false)) return;
    } else if ((revents & (POLLHUP | POLLERR)) != 0 && !c.up.has_due(Clock::now())) {
      close_connection(c);
      return;
    }
    if ((revents & POLLOUT) != 0 && c.target >= 0) write_due(c, c.target, c.up, Clock::now());
  }

  // Reads what `fd` has into `direction`; false when the connection ended.
  bool read_side(Connection& c, int fd, Direction& direction, bool from_client) {
    char buffer[kReadSize];
    const ssize_t got = ::recv(fd, buffer, sizeof(buffer), 0);
    if (got < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return true;
      if (c.black_hole && !from_client) {
        close_fd(c.target);  // a black hole passes nothing on, not even the target's reset
        return true;
      }
      // A reset from one side is passed on as a reset to the other.
      abort_connection(c);
      return false;
    }
    if (c.black_hole) {
      swallowed_ += static_cast<std::uint64_t>(got);
      if (got == 0) {
        if (from_client) {
          close_connection(c);
          return false;
        }
        close_fd(c.target);  // a black hole passes nothing on, not even the target's close
      }
      return true;
    }
    if (got == 0) {
      direction.eof = true;
      return true;
    }
    std::size_t keep = static_cast<std::size_t>(got);
    if (c.budget) keep = std::min(keep, *c.budget);
    if (keep > 0) {
      direction.push(
          std::string(buffer, keep),
          Clock::now() + (mode_ == Mode::kLatency ? delay_ : std::chrono::milliseconds(0)));
    }
    if (c.budget) {
      *c.budget -= keep;
      if (*c.budget == 0) {
        // What fits in the budget still goes out (as far as the sockets take it now), then
        // both sides get the reset.
        const Clock::time_point far = Clock::time_point::max();
        if (c.target >= 0 && !c.connecting) write_due(c, c.target, c.up, far);
        if (!c.done) write_due(c, c.client, c.down, far);
        if (!c.done) abort_connection(c);
        return false;
      }
    }
    return true;
  }

  // Writes the chunks of `direction` that are due at `now`; aborts the connection on an error.
  void write_due(Connection& c, int fd, Direction& direction, Clock::time_point now) {
    const bool to_target = &direction == &c.up;
    while (direction.has_due(now)) {
      Chunk& chunk = direction.queue.front();
      const ssize_t sent =
          ::send(fd, chunk.bytes.data(), chunk.bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (sent < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        abort_connection(c);
        return;
      }
      (to_target ? bytes_to_target_ : bytes_to_client_) += static_cast<std::uint64_t>(sent);
      direction.queued -= static_cast<std::size_t>(sent);
      if (static_cast<std::size_t>(sent) < chunk.bytes.size()) {
        chunk.bytes.erase(0, static_cast<std::size_t>(sent));
        return;
      }
      direction.queue.pop_front();
    }
  }

  // After a turn: writes what came due, passes FINs on once their side's data is out, and
  // closes a connection both of whose ways are finished.
  void settle(Connection& c, Clock::time_point now) {
    if (c.black_hole) return;
    if (c.target >= 0 && !c.connecting) write_due(c, c.target, c.up, now);
    if (c.done) return;
    write_due(c, c.client, c.down, now);
    if (c.done) return;
    if (c.up.eof && c.up.queue.empty() && !c.up.shut && !c.connecting) {
      ::shutdown(c.target, SHUT_WR);
      c.up.shut = true;
    }
    if (c.down.eof && c.down.queue.empty() && !c.down.shut) {
      ::shutdown(c.client, SHUT_WR);
      c.down.shut = true;
    }
    if (c.up.shut && c.down.shut) close_connection(c);
  }

  void close_connection(Connection& c) {
    close_fd(c.client);
    close_fd(c.target);
    c.done = true;
  }

  void abort_connection(Connection& c) {
    if (c.done) return;
    ++resets_;  // before the RST: a test that sees the reset finds it counted
    abort_fd(c.client);
    abort_fd(c.target);
    c.done = true;
  }

  sockaddr_in target_{};
  std::uint16_t port_ = 0;
  int listener_ = -1;
  int wake_ = -1;

  // Owned by the loop thread.
  std::vector<std::unique_ptr<Connection>> connections_;
  Mode mode_ = Mode::kPass;
  std::chrono::milliseconds delay_{0};
  std::size_t budget_ = 0;

  // The test's thread and the loop meet here.
  std::mutex mutex_;
  std::condition_variable applied_cv_;
  std::deque<Command> commands_;
  std::uint64_t submitted_ = 0;
  std::uint64_t applied_ = 0;
  std::string error_;
  std::atomic<bool> running_{true};

  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> bytes_to_target_{0};
  std::atomic<std::uint64_t> bytes_to_client_{0};
  std::atomic<std::uint64_t> swallowed_{0};
  std::atomic<std::uint64_t> resets_{0};
  std::atomic<std::uint64_t> open_{0};

  std::thread thread_;  // last: started once everything above exists
};

FaultProxy::FaultProxy(std::uint16_t target_port, std::string target_host)
    : loop_(std::make_unique<Loop>(target_port, target_host)), port_(loop_->port()) {}

FaultProxy::~FaultProxy() = default;

std::string FaultProxy::address() const { return "127.0.0.1:" + std::to_string(port_); }

std::string FaultProxy::url(std::string_view path) const {
  return "http://" + address() + std::string(path);
}

void FaultProxy::pass() { loop_->submit(Command{.mode = Mode::kPass}); }

void FaultProxy::add_latency(std::chrono::milliseconds delay) {
  loop_->submit(Command{.mode = Mode::kLatency, .delay = delay});
}

void FaultProxy::reset_after(std::size_t bytes) {
  loop_->submit(Command{.mode = Mode::kResetAfter, .bytes = bytes});
}

void FaultProxy::black_hole() { loop_->submit(Command{.mode = Mode::kBlackHole}); }

void FaultProxy::refuse() { loop_->submit(Command{.mode = Mode::kRefuse}); }

void FaultProxy::cut() { loop_->submit(Command{.kind = Command::Kind::kCut}); }

FaultProxyStats FaultProxy::stats() const { return loop_->stats(); }

}  // namespace triggerd::testing
