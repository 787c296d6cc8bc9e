// The hiredis adapter against a real redis-server: commands, pipelines, failures as values.
#include "connectors/redis/redis_client.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>

#include "tests/support/free_port.hpp"
#include "tests/support/host_resolves.hpp"
#include "tests/support/redis_server.hpp"

namespace triggerd::redis {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::RedisServer;

config::RedisConnection connection_to(std::uint16_t port) {
  config::RedisConnection spec;
  spec.address = {"127.0.0.1", port};
  return spec;
}

// Runs `body` on `io` until it (and everything it left) ends. Test bodies are free coroutine
// functions: g++ 12 warns falsely (mismatched-new-delete) on coroutine lambdas.
void run(asio::io_context& io, asio::awaitable<void> body) {
  bool finished = false;
  asio::co_spawn(io, std::move(body),
                 [&finished](const std::exception_ptr& error) { finished = error == nullptr; });
  io.run_for(20s);
  EXPECT_TRUE(finished);
}

asio::awaitable<void> commands_and_pipelines(asio::io_context& io, config::RedisConnection spec) {
  RedisClient client(io.get_executor(), spec);
  EXPECT_TRUE(co_await client.connect(2s)) << client.last_error();
  EXPECT_TRUE(client.connected());
  Reply set = co_await client.command(args("SET", "k", std::string("a\0b", 3)), 2s);
  EXPECT_EQ(set.type, Reply::Type::kStatus);
  Reply get = co_await client.command(args("GET", "k"), 2s);
  EXPECT_EQ(get.type, Reply::Type::kString);
  EXPECT_EQ(get.str, std::string("a\0b", 3));
  std::vector<std::vector<std::string>> commands;
  for (int i = 0; i < 100; ++i) commands.push_back(args("RPUSH", "l", std::to_string(i)));
  std::vector<Reply> replies = co_await client.pipeline(std::move(commands), 2s);
  EXPECT_EQ(replies.size(), 100U);
  if (replies.size() == 100U) {
    EXPECT_EQ(replies.back().integer, 100);
  }
  Reply range = co_await client.command(args("LRANGE", "l", "0", "2"), 2s);
  EXPECT_EQ(range.elements.size(), 3U);
  if (range.elements.size() == 3U) {
    EXPECT_EQ(range.elements[2].str, "2");
  }
  Reply wrong = co_await client.command(args("LPOP", "k"), 2s);
  EXPECT_EQ(wrong.type, Reply::Type::kError);
  EXPECT_TRUE(client.connected());  // an error reply is not a broken connection
  client.close();
}

TEST(RedisClient, RunsCommandsAndPipelinesOnTheEventLoop) {
  RedisServer server;
  asio::io_context io;
  run(io, commands_and_pipelines(io, connection_to(server.port())));
}

asio::awaitable<void> refused(asio::io_context& io, config::RedisConnection spec) {
  RedisClient client(io.get_executor(), spec);
  EXPECT_FALSE(co_await client.connect(2s));
  EXPECT_FALSE(client.connected());
  EXPECT_FALSE(client.last_error().empty());
  Reply reply = co_await client.command(args("PING"), 1s);
  EXPECT_TRUE(reply.failed());
}

TEST(RedisClient, ReportsARefusedConnection) {
  asio::io_context io;
  run(io, refused(io, connection_to(testing::free_port())));
}

asio::awaitable<void> by_name(asio::io_context& io, config::RedisConnection spec) {
  spec.address.host = "localhost";  // may give ::1 first, where the server does not listen
  RedisClient client(io.get_executor(), spec);
  const bool connected = co_await client.connect(2s);
  EXPECT_TRUE(connected) << client.last_error();
  const Reply pong = co_await client.command(args("PING"), 2s);
  EXPECT_EQ(pong.str, "PONG");
}

TEST(RedisClient, ConnectsByHostName) {
  TRIGGERD_SKIP_UNLESS_RESOLVES("localhost");
  RedisServer server;
  asio::io_context io;
  run(io, by_name(io, connection_to(server.port())));
}

asio::awaitable<void> unknown_name(asio::io_context& io, config::RedisConnection spec) {
  spec.address.host = "no-such-host.invalid";
  RedisClient client(io.get_executor(), spec);
  const bool connected = co_await client.connect(2s);
  EXPECT_FALSE(connected);
  // "cannot look up NAME: ..." or, without a DNS server that answers, "looking up NAME took
  // too long".
  EXPECT_NE(client.last_error().find("no-such-host.invalid"), std::string::npos)
      << client.last_error();
}

TEST(RedisClient, NamesTheHostItCannotLookUp) {
  asio::io_context io;
  run(io, unknown_name(io, connection_to(testing::free_port())));
}

asio::awaitable<void> late_reply(asio::io_context& io, config::RedisConnection spec) {
  RedisClient client(io.get_executor(), spec);
  EXPECT_TRUE(co_await client.connect(2s));
  Reply reply = co_await client.command(args("BLPOP", "nothing", "5"), 200ms);
  EXPECT_TRUE(reply.failed());
  EXPECT_FALSE(client.connected());
  EXPECT_TRUE(co_await client.connect(2s));  // and a new connection works
  EXPECT_EQ((co_await client.command(args("PING"), 2s)).str, "PONG");
}

TEST(RedisClient, ClosesTheConnectionWhenAReplyIsLate) {
  RedisServer server;
  asio::io_context io;
  run(io, late_reply(io, connection_to(server.port())));
}

asio::awaitable<void> server_goes(asio::io_context& io, config::RedisConnection spec,
                                  RedisServer& server) {
  RedisClient client(io.get_executor(), spec);
  EXPECT_TRUE(co_await client.connect(2s));
  server.stop();
  Reply reply = co_await client.command(args("PING"), 2s);
  EXPECT_TRUE(reply.failed());
  EXPECT_FALSE(client.connected());
  EXPECT_FALSE(co_await client.connect(1s));
}

TEST(RedisClient, FailsPendingCommandsWhenTheServerGoes) {
  RedisServer server;
  asio::io_context io;
  run(io, server_goes(io, connection_to(server.port()), server));
}

asio::awaitable<void> with_password(asio::io_context& io, config::RedisConnection spec) {
  RedisClient anonymous(io.get_executor(), spec);
  EXPECT_FALSE(co_await anonymous.connect(2s));
  EXPECT_EQ(anonymous.last_error().find("s3cret"), std::string::npos);
  spec.password = config::Secret("s3cret");
  spec.db = 3;
  RedisClient client(io.get_executor(), spec);
  EXPECT_TRUE(co_await client.connect(2s)) << client.last_error();
  co_await client.command(args("SET", "in-db-3", "x"), 2s);
}

TEST(RedisClient, AuthenticatesWithAPassword) {
  RedisServer server;
  {
    testing::RedisTestClient admin(server.port());
    admin.text({"CONFIG", "SET", "requirepass", "s3cret"});
  }
  asio::io_context io;
  run(io, with_password(io, connection_to(server.port())));
  testing::RedisTestClient check(server.port());
  check.text({"AUTH", "s3cret"});
  check.text({"SELECT", "3"});
  EXPECT_EQ(check.text({"GET", "in-db-3"}), "x");
}

TEST(ReconnectDelay, GrowsAndIsCapped) {
  EXPECT_LE(reconnect_delay(1), 100ms);
  EXPECT_GE(reconnect_delay(1), 50ms);
  EXPECT_LE(reconnect_delay(30), 5000ms);
  EXPECT_GE(reconnect_delay(30), 2500ms);
}

}  // namespace
}  // namespace triggerd::redis
