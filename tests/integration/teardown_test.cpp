// One deadline bounds the whole teardown (server.shutdown_timeout), and a second stop signal
// exits at once, even when a queue stops answering in the middle of it: the real binary with a
// redis-stream trigger whose Redis is frozen (SIGSTOP) while events are in flight, so that
// every acknowledgement and close waits on a server that never answers. Afterwards nothing is
// lost: what was not acknowledged is delivered again by the next start.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <map>
#include <memory>
#include <string>

#include "tests/integration/end_to_end.hpp"
#include "tests/integration/redis_test_helpers.hpp"
#include "tests/support/redis_server.hpp"

namespace triggerd::testing {
namespace {

using std::chrono::steady_clock;
using ::testing::HasSubstr;

constexpr int kEntries = 5;

class Teardown : public ::testing::Test {
 protected:
  void start_triggerd(const std::string& shutdown_timeout) {
    config_ = std::make_unique<TempFile>(
        with_shutdown_timeout(redis_config(redis_.port(), stub_.url("/fn"), R"(  jobs:
    function: fn
    source: {type: redis-stream, connection: main, stream: jobs, start: "0"}
    delivery: {retries: 0, max_inflight: 10}
)"),
                              shutdown_timeout));
    triggerd_ = std::make_unique<TriggerdProcess>(config_->path());
  }

  void add_entries() {
    RedisTestClient client(redis_.port());
    for (int i = 0; i < kEntries; ++i) {
      client.command({"XADD", "jobs", "*", "data", "entry-" + std::to_string(i)});
    }
  }

  // How many times the function saw each entry, over every run so far.
  std::map<std::string, int> deliveries() const {
    std::map<std::string, int> seen;
    for (const RecordedRequest& request : stub_.requests()) ++seen[request.body];
    return seen;
  }

  // Every entry delivered at least once (none lost), then all acknowledged in the group.
  void expect_nothing_lost_after_a_restart() {
    redis_.resume();
    stub_.always(200);
    start_triggerd("5s");
    ASSERT_TRUE(wait_until([&] { return deliveries().size() == kEntries; }, kEventually))
        << triggerd_->process().err();
    RedisTestClient client(redis_.port());
    ASSERT_TRUE(wait_until(
        [&] {
          ReplyPtr pending = client.command({"XPENDING", "jobs", "triggerd"});
          return pending && pending->type == REDIS_REPLY_ARRAY && pending->elements > 0 &&
                 pending->element[0]->integer == 0;
        },
        kEventually))
        << "entries left pending after the restart";
  }

  FunctionStub stub_;
  RedisServer redis_;
  std::unique_ptr<TempFile> config_;
  std::unique_ptr<TriggerdProcess> triggerd_;
};

TEST_F(Teardown, AQueueThatStopsAnsweringDoesNotHoldTheExitPastTheDeadline) {
  constexpr milliseconds kFunctionTakes(800);
  stub_.always(200, kFunctionTakes);
  start_triggerd("3s");
  add_entries();
  ASSERT_TRUE(wait_until([&] { return stub_.current_concurrent() == kEntries; }, kEventually))
      << triggerd_->process().err();
  // The events finish while Redis is frozen: their XACKs, and closing, wait on it.
  redis_.pause();
  const auto signalled = steady_clock::now();
  triggerd_->process().send_signal(SIGTERM);
  EXPECT_EQ(triggerd_->process().wait_for_exit(milliseconds(10000)), 0)
      << triggerd_->process().err();
  const long long took = elapsed_ms(signalled, steady_clock::now());
  EXPECT_LE(took, 3000 + 1500) << triggerd_->process().err();
  EXPECT_EQ(stub_.request_count(), static_cast<std::uint64_t>(kEntries));
  expect_nothing_lost_after_a_restart();
}

TEST_F(Teardown, ASecondSignalExitsAtOnceEvenWhileTheQueueHangs) {
  stub_.always(200, milliseconds(10000));
  start_triggerd("20s");
  add_entries();
  ASSERT_TRUE(wait_until([&] { return stub_.current_concurrent() == kEntries; }, kEventually))
      << triggerd_->process().err();
  redis_.pause();
  triggerd_->process().send_signal(SIGTERM);
  ASSERT_TRUE(wait_until(
      [&] { return http_get(triggerd_->admin_port(), "/readyz").status == 503; }, kEventually));
  const auto second = steady_clock::now();
  triggerd_->process().send_signal(SIGTERM);
  EXPECT_EQ(triggerd_->process().wait_for_exit(milliseconds(5000)), 0)
      << triggerd_->process().err();
  EXPECT_LE(elapsed_ms(second, steady_clock::now()), 1000) << triggerd_->process().err();
  EXPECT_THAT(triggerd_->process().err(), HasSubstr("second stop signal"));
  expect_nothing_lost_after_a_restart();
}

}  // namespace
}  // namespace triggerd::testing
