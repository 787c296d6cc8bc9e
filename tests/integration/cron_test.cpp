// Cron triggers end to end (docs/configuration.md, docs/delivery.md): the real triggerd binary
// firing a schedule at a scripted function (FunctionStub), seen from the function's side.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/end_to_end.hpp"

namespace triggerd::testing {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

class CronDelivery : public EndToEndTest {};

TEST_F(CronDelivery, EverySecondScheduleFiresOnWholeSecondsWithTheDataAsJson) {
  start(one_function(stub_) + R"(  tick:
    function: fn
    source:
      type: cron
      schedule: "* * * * * *"
      data: {job: cleanup, batch: 3, dry_run: false, tags: [a, b]}
)");
  std::this_thread::sleep_for(milliseconds(3000));
  const std::vector<RecordedRequest> requests = stub_.requests();
  // Three whole seconds pass in three seconds; where the window starts decides one more or less.
  ASSERT_GE(requests.size(), 2u) << log();
  ASSERT_LE(requests.size(), 4u) << log();

  const boost::json::value expected_data =
      boost::json::parse(R"({"job":"cleanup","batch":3,"dry_run":false,"tags":["a","b"]})");
  std::optional<std::chrono::sys_time<milliseconds>> previous;
  for (const RecordedRequest& request : requests) {
    const std::string ce_time = request.header("ce-time");
    const auto time = parse_utc_time(ce_time);
    ASSERT_TRUE(time) << "ce-time is not RFC 3339 UTC: " << ce_time;
    EXPECT_EQ(time->time_since_epoch() % seconds(1), milliseconds(0))
        << ce_time << " is not on a whole second";
    if (previous) {
      EXPECT_EQ(*time - *previous, seconds(1)) << ce_time;
    }
    previous = time;
    // Fired on time: the function hears of the tick promptly, never before it.
    EXPECT_GE(request.received_at, *time) << ce_time;
    EXPECT_LT(request.received_at - *time, milliseconds(500)) << ce_time;

    const auto unix_seconds = std::chrono::floor<seconds>(*time).time_since_epoch().count();
    expect_headers(request, {
                                {"ce-id", "tick-" + std::to_string(unix_seconds)},
                                {"ce-source", "cron://tick"},
                                {"ce-type", "dev.triggerd.cron.tick"},
                                {"ce-specversion", "1.0"},
                                {"ce-trigger", "tick"},
                                {"ce-attempt", "1"},
                                {"Content-Type", "application/json"},
                            });
    EXPECT_FALSE(request.has_header("ce-subject"));
    EXPECT_EQ(boost::json::parse(request.body), expected_data) << request.body;
  }
}

TEST_F(CronDelivery, ScheduleWithoutDataSendsAnEmptyJsonObject) {
  start(one_function(stub_) + R"(  tick:
    function: fn
    source: {type: cron, schedule: "@every 1s"}
)");
  ASSERT_TRUE(stub_.wait_for_requests(1, milliseconds(2500))) << log();
  const RecordedRequest request = stub_.requests().at(0);
  EXPECT_EQ(request.body, "{}");
  EXPECT_EQ(request.header("Content-Type"), "application/json");
}

TEST_F(CronDelivery, TickWhileTheTriggerIsFullIsSkippedNotQueued) {
  // The first tick holds the only slot for 1.5 s: the tick a second later finds no room.
  stub_.enqueue(StubStep::hang());
  start(one_function(stub_, "    timeout: 1500ms\n") + R"(  tick:
    function: fn
    source: {type: cron, schedule: "* * * * * *"}
    delivery: {retries: 0, max_inflight: 1}
)");
  ASSERT_TRUE(stub_.wait_for_requests(2, milliseconds(4000))) << log();
  const std::vector<RecordedRequest> requests = stub_.requests();
  const auto first = parse_utc_time(requests[0].header("ce-time"));
  const auto second = parse_utc_time(requests[1].header("ce-time"));
  ASSERT_TRUE(first && second);
  EXPECT_EQ(*second - *first, seconds(2)) << "the skipped tick is not delivered late";
  EXPECT_GE(requests[1].received_at, *second);
  EXPECT_THAT(log(), ::testing::HasSubstr("skipped"));
}

}  // namespace
}  // namespace triggerd::testing
