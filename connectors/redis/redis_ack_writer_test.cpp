// The Redis sources' acknowledging half against a real redis-server: batches, the items of a
// failed command written again, counted failures, and the close deadline.
#include "connectors/redis/redis_ack_writer.hpp"

#include <gtest/gtest.h>
#include <prometheus/counter.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "connectors/redis/redis_source_context_for_tests.hpp"
#include "connectors/redis/redis_source_drain.hpp"
#include "tests/support/free_port.hpp"
#include "tests/support/redis_server.hpp"

namespace triggerd::redis {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::RedisServer;
using testing::RedisTestClient;

// A source as the writer sees it: it records what was acknowledged and how often it was asked
// for its upkeep.
class RecordingOwner : public AckWriter::Owner {
 public:
  virtual ~RecordingOwner() = default;
  void written(std::vector<std::string>& acknowledged) override {
    ++writes;
    for (std::string& item : acknowledged) taken.push_back(std::move(item));
  }
  std::string describe_write(std::size_t items) const override {
    return "write of " + std::to_string(items);
  }
  std::string describe_unwritten(std::size_t items) const override {
    return std::to_string(items) + " unwritten";
  }
  asio::awaitable<void> upkeep() override {
    ++upkeeps;
    co_return;
  }

  int writes = 0;
  int upkeeps = 0;
  std::vector<std::string> taken;  // acknowledged, in order
};

// A writer and everything it needs, on one io_context.
struct Rig {
  explicit Rig(std::uint16_t port, AckWriter::Settings settings)
      : source(port),
        telemetry(source.telemetry),
        drain(io.get_executor(), "redis-test", source.context),
        writer(io.get_executor(), std::move(settings), owner, drain, source.context) {
    asio::co_spawn(io, writer.run(), [this](const std::exception_ptr& error) {
      ended = true;
      failed = error != nullptr;
    });
  }
  // The writer ends before what it uses goes, should a test stop half way.
  ~Rig() {
    if (!ended) close(std::chrono::steady_clock::now());
  }

  // Runs the io_context until `done` holds or `limit` passes; whether it held.
  template <typename Done>
  bool run_until(Done done, std::chrono::milliseconds limit = 10s) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < until) io.run_for(10ms);
    return done();
  }

  // Closes by `deadline` as a source would; whether the writer ended by then (and a little).
  bool close(std::chrono::steady_clock::time_point deadline) {
    drain.stop();
    drain.close(deadline);
    writer.wake();
    const auto limit = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now() + 250ms);
    return run_until([&] { return ended; }, limit) && !failed;
  }

  double ack_errors() const { return telemetry.metrics.source_errors_ack.Value(); }

  asio::io_context io;
  SourceContextForTests source;
  TriggerTelemetry& telemetry;
  RecordingOwner owner;
  SourceDrain drain;
  AckWriter writer;
  bool ended = false;
  bool failed = false;
};

TEST(AckWriter, RemovesEachItemWithItsOwnCommandWhenOneCommandPerItem) {
  RedisServer server;
  RedisTestClient redis(server.port());
  redis.pipeline({{"RPUSH", "q", "a", "b", "c", "d"}});
  Rig rig(server.port(), {.command = {"LREM", "q", "-1"}, .one_command_per_item = true});
  for (const char* item : {"a", "b", "c"}) rig.writer.add(item);
  EXPECT_EQ(rig.writer.owed(), 3U);
  ASSERT_TRUE(rig.run_until([&] { return rig.owner.taken.size() == 3; }));
  EXPECT_EQ(rig.owner.taken, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(rig.writer.owed(), 0U);
  EXPECT_EQ(redis.integer({"LLEN", "q"}), 1);
  EXPECT_EQ(rig.ack_errors(), 0.0);
  EXPECT_TRUE(rig.close(std::chrono::steady_clock::now() + 1s));
}

TEST(AckWriter, SendsTheWholeBatchInOneCommandOtherwise) {
  RedisServer server;
  RedisTestClient redis(server.port());
  Rig rig(server.port(), {.command = {"SADD", "done"}});
  for (const char* item : {"x", "y", "z"}) rig.writer.add(item);
  ASSERT_TRUE(rig.run_until([&] { return rig.owner.taken.size() == 3; }));
  EXPECT_EQ(rig.owner.writes, 1);  // all three in one write
  EXPECT_EQ(redis.integer({"SCARD", "done"}), 3);
  EXPECT_TRUE(rig.close(std::chrono::steady_clock::now() + 1s));
}

TEST(AckWriter, WritesTheItemsOfAFailedCommandAgainAndCountsTheFailure) {
  RedisServer server;
  RedisTestClient redis(server.port());
  // INCR of a key that holds text fails; the other items of the batch go through.
  redis.command({"SET", "bad", "text"});
  Rig rig(server.port(), {.command = {"INCR"}, .one_command_per_item = true});
  for (const char* item : {"one", "bad", "two"}) rig.writer.add(item);
  ASSERT_TRUE(rig.run_until([&] { return rig.owner.taken.size() == 2; }));
  EXPECT_EQ(rig.owner.taken, (std::vector<std::string>{"one", "two"}));
  EXPECT_GE(rig.ack_errors(), 1.0);
  EXPECT_EQ(rig.writer.owed(), 1U);  // "bad", tried again after a backoff
  redis.command({"SET", "bad", "41"});
  ASSERT_TRUE(rig.run_until([&] { return rig.owner.taken.size() == 3; }));
  EXPECT_EQ(rig.owner.taken.back(), "bad");
  EXPECT_EQ(redis.text({"GET", "bad"}), "42");
  EXPECT_EQ(redis.text({"GET", "one"}), "1");  // written once
  EXPECT_TRUE(rig.close(std::chrono::steady_clock::now() + 1s));
}

TEST(AckWriter, WritesWhatIsOwedOnceTheServerIsBack) {
  RedisServer server;
  Rig rig(server.port(), {.command = {"SADD", "done"}});
  server.stop();
  rig.writer.add("late");
  ASSERT_TRUE(
      rig.run_until([&] { return rig.telemetry.metrics.source_errors_connect.Value() >= 1.0; }));
  EXPECT_EQ(rig.writer.owed(), 1U);
  server.start();
  ASSERT_TRUE(rig.run_until([&] { return rig.owner.taken.size() == 1; }));
  RedisTestClient redis(server.port());
  EXPECT_EQ(redis.integer({"SISMEMBER", "done", "late"}), 1);
  EXPECT_TRUE(rig.close(std::chrono::steady_clock::now() + 1s));
}

TEST(AckWriter, GivesUpWhatIsStillOwedAtTheCloseDeadline) {
  Rig rig(testing::free_port(), {.command = {"SADD", "done"}});
  rig.writer.add("never");
  rig.run_until([] { return false; }, 100ms);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(rig.close(started + 300ms));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
  EXPECT_TRUE(rig.owner.taken.empty());
  EXPECT_EQ(rig.writer.owed(), 1U);
}

TEST(AckWriter, RunsTheUpkeepBetweenWritesUntilTheClose) {
  RedisServer server;
  Rig rig(server.port(), {.command = {"SADD", "done"}, .upkeep_every = 20ms});
  ASSERT_TRUE(rig.run_until([&] { return rig.owner.upkeeps >= 3; }, 2s));
  EXPECT_TRUE(rig.close(std::chrono::steady_clock::now() + 1s));
  const int at_close = rig.owner.upkeeps;
  rig.run_until([] { return false; }, 100ms);
  EXPECT_EQ(rig.owner.upkeeps, at_close);
}

}  // namespace
}  // namespace triggerd::redis
