#include "connectors/redis/redis_client.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>
#include <utility>

#include "core/host_lookup.hpp"

namespace triggerd::redis {

namespace asio = boost::asio;

std::string Reply::describe() const {
  switch (type) {
    case Type::kString:
      return "string";
    case Type::kArray:
      return "array";
    case Type::kInteger:
      return "integer";
    case Type::kNil:
      return "nil";
    case Type::kStatus:
      return "status " + str;
    case Type::kError:
    case Type::kFailed:
      return str;
  }
  return "unknown";
}

Reply copy_reply(const redisReply& reply) {
  Reply out;
  switch (reply.type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      out.type = reply.type == REDIS_REPLY_STRING   ? Reply::Type::kString
                 : reply.type == REDIS_REPLY_STATUS ? Reply::Type::kStatus
                                                    : Reply::Type::kError;
      out.str.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::kInteger;
      out.integer = reply.integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::kArray;
      out.elements.reserve(reply.elements);
      for (std::size_t i = 0; i < reply.elements; ++i) {
        out.elements.push_back(copy_reply(*reply.element[i]));
      }
      break;
    default:
      out.type = Reply::Type::kNil;
      break;
  }
  return out;
}

namespace {

Reply failed_reply(std::string what) {
  Reply reply;
  reply.type = Reply::Type::kFailed;
  reply.str = std::move(what);
  return reply;
}

// One command waiting for its reply. The timer never expires on its own before the deadline;
// the reply callback cancels it, which is how the waiting coroutine learns the reply is there.
struct Pending {
  explicit Pending(const asio::any_io_executor& executor) : timer(executor) {}
  asio::steady_timer timer;
  Reply reply;
  bool done = false;
};

void on_reply(redisAsyncContext* /*context*/, void* reply, void* privdata) {
  auto* holder = static_cast<std::shared_ptr<Pending>*>(privdata);
  std::shared_ptr<Pending> pending = std::move(*holder);
  delete holder;
  pending->reply = reply != nullptr ? copy_reply(*static_cast<redisReply*>(reply))
                                    : failed_reply("connection lost");
  pending->done = true;
  pending->timer.cancel();
}

}  // namespace

struct RedisClient::State : std::enable_shared_from_this<State> {
  explicit State(const asio::any_io_executor& ex) : executor(ex), socket(ex), lookup_wait(ex) {}
  ~State() {
    if (socket.is_open()) static_cast<void>(socket.release());  // hiredis owns the fd
  }

  asio::any_io_executor executor;
  redisAsyncContext* context = nullptr;
  asio::posix::stream_descriptor socket;
  bool reading = false;
  bool writing = false;
  bool read_armed = false;
  bool write_armed = false;
  bool ready = false;  // connected and authenticated
  // Set by RedisClient::close(): a connect() under way gives up instead of trying the next
  // address.
  bool abandoned = false;
  // A connect() waits here for its name lookup; close() cancels it.
  asio::steady_timer lookup_wait;
  std::string error;

  static State& of(void* data) { return *static_cast<State*>(data); }

  void arm(bool read) {
    bool& armed = read ? read_armed : write_armed;
    if (armed || context == nullptr) return;
    armed = true;
    auto wait =
        read ? asio::posix::descriptor_base::wait_read : asio::posix::descriptor_base::wait_write;
    socket.async_wait(wait, [self = shared_from_this(), read](boost::system::error_code ec) {
      (read ? self->read_armed : self->write_armed) = false;
      const bool wanted = read ? self->reading : self->writing;
      if (ec || self->context == nullptr || !wanted) return;
      // Either call may free the context (a connection error): cleanup() then clears it.
      if (read) {
        redisAsyncHandleRead(self->context);
      } else {
        redisAsyncHandleWrite(self->context);
      }
      if (self->context != nullptr && (read ? self->reading : self->writing)) self->arm(read);
    });
  }

  static void add_read(void* data) {
    State& state = of(data);
    state.reading = true;
    state.arm(true);
  }
  static void del_read(void* data) { of(data).reading = false; }
  static void add_write(void* data) {
    State& state = of(data);
    state.writing = true;
    state.arm(false);
  }
  static void del_write(void* data) { of(data).writing = false; }
  static void cleanup(void* data) {
    State& state = of(data);
    state.reading = false;
    state.writing = false;
    state.ready = false;
    state.context = nullptr;
    if (state.socket.is_open()) {
      boost::system::error_code ignored;
      state.socket.cancel(ignored);
      static_cast<void>(state.socket.release());
    }
  }
  static void on_disconnect(const redisAsyncContext* context, int status) {
    State& state = of(context->data);
    if (status != REDIS_OK && state.error.empty() && context->errstr != nullptr) {
      state.error = context->errstr;
    }
    state.ready = false;
  }
  static void on_connect(const redisAsyncContext* context, int status) {
    State& state = of(context->data);
    if (status != REDIS_OK && context->errstr != nullptr) state.error = context->errstr;
  }

  // Queues one command; false if hiredis refused it (the connection is going away).
  bool issue(const std::vector<std::string>& args, const std::shared_ptr<Pending>& pending) {
    if (context == nullptr) return false;
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    argv.reserve(args.size());
    lengths.reserve(args.size());
    for (const std::string& arg : args) {
      argv.push_back(arg.data());
      lengths.push_back(arg.size());
    }
    auto* holder = new std::shared_ptr<Pending>(pending);
    if (redisAsyncCommandArgv(context, on_reply, holder, static_cast<int>(argv.size()), argv.data(),
                              lengths.data()) != REDIS_OK) {
      delete holder;
      return false;
    }
    return true;
  }

  void close() {
    if (context != nullptr) redisAsyncFree(context);  // runs cleanup()
  }
};

RedisClient::RedisClient(asio::any_io_executor executor, const config::RedisConnection& spec)
    : state_(std::make_shared<State>(executor)), spec_(spec) {}

RedisClient::~RedisClient() { close(); }

bool RedisClient::connected() const { return state_->context != nullptr && state_->ready; }

const std::string& RedisClient::last_error() const { return state_->error; }

void RedisClient::close() {
  state_->abandoned = true;
  state_->lookup_wait.cancel();
  state_->close();
}

asio::awaitable<bool> RedisClient::connect(std::chrono::milliseconds timeout) {
  close();
  state_ = std::make_shared<State>(state_->executor);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Looked up again on every connect: a reconnect follows the name to a new address.
  std::shared_ptr<State> state = state_;
  std::vector<std::string> addresses =
      co_await look_up_host(state->lookup_wait, spec_.address.host, deadline, state->error);
  if (addresses.empty()) co_return false;
  const bool named = addresses.front() != spec_.address.host;
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    if (state_->abandoned) co_return false;
    if (i > 0) state_ = std::make_shared<State>(state_->executor);  // a fresh socket watch
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left <= std::chrono::milliseconds::zero()) {
      state_->error = "connect timed out";
      co_return false;
    }
    const bool connected = co_await connect_to(addresses[i], left);  // not in an if: g++ 12
    if (connected) co_return true;
    // Which address failed, when a name could lead to several.
    if (named) state_->error += " (at " + addresses[i] + ")";
  }
  co_return false;
}

asio::awaitable<bool> RedisClient::connect_to(const std::string& address,
                                              std::chrono::milliseconds timeout) {
  std::shared_ptr<State> state = state_;
  // A numeric address: hiredis' own getaddrinfo answers it without a lookup.
  redisAsyncContext* context =
      redisAsyncConnect(address.c_str(), static_cast<int>(spec_.address.port));
  if (context == nullptr) {
    state->error = "out of memory";
    co_return false;
  }
  if (context->err != 0) {
    state->error = context->errstr != nullptr ? context->errstr : "connect failed";
    redisAsyncFree(context);
    co_return false;
  }
  // Before the hooks: setting the connect callback already asks for a write event.
  boost::system::error_code ec;
  state->socket.assign(context->c.fd, ec);
  if (ec) {
    state->error = "cannot watch the socket: " + ec.message();
    redisAsyncFree(context);
    co_return false;
  }
  state->context = context;
  context->data = state.get();
  context->ev.data = state.get();
  context->ev.addRead = &State::add_read;
  context->ev.delRead = &State::del_read;
  context->ev.addWrite = &State::add_write;
  context->ev.delWrite = &State::del_write;
  context->ev.cleanup = &State::cleanup;
  redisAsyncSetConnectCallback(context, &State::on_connect);
  redisAsyncSetDisconnectCallback(context, &State::on_disconnect);
  // The first command makes hiredis wait for the socket to be writable, which completes the
  // non-blocking connect; the handshake is what proves the server is there and takes us.
  std::vector<std::vector<std::string>> handshake;
  if (!spec_.password.empty()) {
    if (spec_.username.empty()) {
      handshake.push_back(args("AUTH", spec_.password.reveal()));
    } else {
      handshake.push_back(args("AUTH", spec_.username, spec_.password.reveal()));
    }
  }
  if (spec_.db != 0) handshake.push_back(args("SELECT", std::to_string(spec_.db)));
  handshake.push_back(args("PING"));
  std::vector<Reply> replies = co_await pipeline(std::move(handshake), timeout);
  for (const Reply& reply : replies) {
    if (reply.error()) {
      // Never the AUTH arguments: only what the server or the socket said.
      if (state->error.empty() || reply.type == Reply::Type::kError) state->error = reply.str;
      state->close();
      co_return false;
    }
  }
  state->ready = true;
  state->error.clear();
  co_return true;
}

asio::awaitable<Reply> RedisClient::command(std::vector<std::string> args,
                                            std::chrono::milliseconds timeout) {
  std::vector<std::vector<std::string>> commands;
  commands.push_back(std::move(args));
  std::vector<Reply> replies = co_await pipeline(std::move(commands), timeout);
  co_return std::move(replies.front());
}

asio::awaitable<std::vector<Reply>> RedisClient::pipeline(
    std::vector<std::vector<std::string>> cmds, std::chrono::milliseconds timeout) {
  std::shared_ptr<State> state = state_;
  std::vector<Reply> replies(cmds.size());
  std::vector<std::shared_ptr<Pending>> pendings;
  pendings.reserve(cmds.size());
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (const auto& args : cmds) {
    auto pending = std::make_shared<Pending>(state->executor);
    pending->timer.expires_at(deadline);
    if (!state->issue(args, pending)) {
      pending->done = true;
      pending->reply =
          failed_reply(state->error.empty() ? "not connected" : "not connected: " + state->error);
    }
    pendings.push_back(std::move(pending));
  }
  for (std::size_t i = 0; i < pendings.size(); ++i) {
    Pending& pending = *pendings[i];
    if (!pending.done) {
      co_await pending.timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (!pending.done) {
      // No reply in time: later replies could no longer be told apart, so the connection goes.
      state->error = "timed out waiting for a reply";
      state->close();  // completes the other pending commands with kFailed
      replies[i] = failed_reply(state->error);
      continue;
    }
    replies[i] = std::move(pending.reply);
    if (replies[i].failed() && !state->error.empty()) replies[i].str = state->error;
  }
  co_return replies;
}

std::chrono::milliseconds reconnect_delay(int attempt) {
  constexpr std::int64_t kFirst = 100;
  constexpr std::int64_t kMax = 5000;
  const int shift = std::clamp(attempt - 1, 0, 10);
  const std::int64_t ceiling = std::min(kMax, kFirst << shift);
  thread_local std::minstd_rand random{std::random_device{}()};
  std::uniform_int_distribution<std::int64_t> jitter(ceiling / 2, ceiling);
  return std::chrono::milliseconds(jitter(random));
}

std::string host_name() {
  std::array<char, 256> name{};
  if (gethostname(name.data(), name.size() - 1) != 0 || name[0] == '\0') return "triggerd";
  return std::string(name.data());
}

}  // namespace triggerd::redis
