#include "core/tcp_server.hpp"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/logging.hpp"
#include "core/net_names.hpp"

namespace triggerd {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

// Echoes every byte back until the peer closes, as an open connection the server tracks.
asio::awaitable<void> echo(TcpServer& server, tcp::socket socket) {
  const TcpServer::OpenConnection open = server.track(socket);
  char byte = 0;
  for (;;) {
    auto [read_error, read] = co_await socket.async_read_some(asio::buffer(&byte, 1), kAsTuple);
    if (read_error) co_return;
    auto [write_error, written] =
        co_await asio::async_write(socket, asio::buffer(&byte, 1), kAsTuple);
    if (write_error) co_return;
  }
}

asio::awaitable<void> fail(tcp::socket /*socket*/) { throw std::runtime_error("broken"); }

// The server and its clients on one io_context, run by the test until what it waits for holds.
class TcpServerTest : public ::testing::Test {
 protected:
  void start(std::size_t max_connections = 16) {
    server_ = std::make_unique<TcpServer>(
        io_, "test server", logging::get("test"), max_connections,
        [this](std::string_view component) { failures_.emplace_back(component); });
    server_->listen({"127.0.0.1", 0}, "test.listen");
    server_->start([this](tcp::socket socket) { return echo(*server_, std::move(socket)); });
  }

  // The connections' coroutines refer to the server: they must end before it goes.
  void TearDown() override {
    if (!server_) return;
    server_->stop();
    EXPECT_TRUE(run_until([&] { return server_->open_connections() == 0; }));
  }

  bool run_until(const std::function<bool()>& done) {
    const auto give_up = Clock::now() + 5s;
    while (!done() && Clock::now() < give_up) {
      io_.restart();
      io_.run_for(5ms);
    }
    return done();
  }

  // A client connection, with how its connect ended.
  struct Client {
    explicit Client(asio::io_context& io) : socket(io) {}
    tcp::socket socket;
    std::optional<boost::system::error_code> connected;
  };

  std::unique_ptr<Client> connect() {
    auto client = std::make_unique<Client>(io_);
    client->socket.async_connect({asio::ip::make_address("127.0.0.1"), server_->port()},
                                 [&client = *client](auto error) { client.connected = error; });
    EXPECT_TRUE(run_until([&] { return client->connected.has_value(); }));
    return client;
  }

  // Sends one byte and returns what comes back: the same byte from echo(), or nothing when the
  // connection ends instead.
  std::optional<char> echoed(Client& client, char byte) {
    boost::system::error_code ignored;
    asio::write(client.socket, asio::buffer(&byte, 1), ignored);
    char answer = 0;
    std::optional<boost::system::error_code> read;
    client.socket.async_read_some(asio::buffer(&answer, 1),
                                  [&read](auto error, std::size_t) { read = error; });
    EXPECT_TRUE(run_until([&] { return read.has_value(); }));
    if (!read || *read) return std::nullopt;
    return answer;
  }

  asio::io_context io_;
  std::vector<std::string> failures_;
  std::unique_ptr<TcpServer> server_;
};

TEST_F(TcpServerTest, ServesEachConnectionInACoroutineOfItsOwn) {
  start();
  auto first = connect();
  auto second = connect();
  EXPECT_EQ(echoed(*second, 'b'), 'b');
  EXPECT_EQ(echoed(*first, 'a'), 'a');
  EXPECT_EQ(server_->open_connections(), 2u);
  first->socket.close();
  EXPECT_TRUE(run_until([&] { return server_->open_connections() == 1; }));
}

TEST_F(TcpServerTest, ClosesAConnectionBeyondTheLimitAtOnceAndCountsIt) {
  start(1);
  auto open = connect();
  EXPECT_EQ(echoed(*open, 'a'), 'a');  // served, so counted as open
  EXPECT_EQ(echoed(*connect(), 'b'), std::nullopt);
  EXPECT_EQ(server_->connections_refused(), 1u);
  EXPECT_EQ(echoed(*open, 'c'), 'c') << "the open connection goes on";
}

TEST_F(TcpServerTest, StopAcceptingRefusesNewConnectionsAndKeepsTheOpenOnes) {
  start();
  auto open = connect();
  EXPECT_EQ(echoed(*open, 'a'), 'a');
  server_->stop_accepting();
  EXPECT_TRUE(server_->draining());
  EXPECT_FALSE(server_->stopped());
  EXPECT_EQ(connect()->connected, asio::error::connection_refused);
  EXPECT_EQ(echoed(*open, 'b'), 'b');
}

TEST_F(TcpServerTest, StopClosesTheListenerAndEveryOpenConnection) {
  start();
  std::vector<std::unique_ptr<Client>> clients;
  for (char byte : {'a', 'b'}) {
    clients.push_back(connect());
    EXPECT_EQ(echoed(*clients.back(), byte), byte);
  }
  server_->stop();
  server_->stop();  // idempotent
  EXPECT_TRUE(server_->stopped());
  for (auto& client : clients) EXPECT_EQ(echoed(*client, 'x'), std::nullopt);
  EXPECT_EQ(connect()->connected, asio::error::connection_refused);
  clients.clear();
  // Nothing of the server is left waiting: the io_context runs out of work.
  io_.restart();
  const auto before = Clock::now();
  io_.run_for(2s);
  EXPECT_LT(Clock::now() - before, 1s);
  EXPECT_EQ(server_->open_connections(), 0u);
}

TEST_F(TcpServerTest, CountsAConnectionThatEndsWithAnException) {
  TcpServer failing(io_, "failing server", logging::get("test"), 16,
                    [this](std::string_view component) { failures_.emplace_back(component); });
  failing.listen({"127.0.0.1", 0}, "test.listen");
  failing.start([](tcp::socket socket) { return fail(std::move(socket)); });
  tcp::socket client(io_);
  client.connect({asio::ip::make_address("127.0.0.1"), failing.port()});
  EXPECT_TRUE(run_until([&] { return !failures_.empty(); }));
  EXPECT_EQ(failures_, std::vector<std::string>{"failing server"});
  failing.stop();
}

TEST_F(TcpServerTest, ListenNamesTheSettingAndTheAddressItCannotListenOn) {
  start();
  TcpServer second(io_, "second", logging::get("test"), 16, nullptr);
  const std::string address = "127.0.0.1:" + std::to_string(server_->port());
  try {
    second.listen({"127.0.0.1", server_->port()}, "test.listen");
    FAIL() << "a second server listened on " << address;
  } catch (const std::runtime_error& error) {
    EXPECT_EQ(
        std::string(error.what()).rfind("cannot listen on test.listen " + address + ": bind: ", 0),
        0u)
        << error.what();
  }
}

}  // namespace
}  // namespace triggerd
