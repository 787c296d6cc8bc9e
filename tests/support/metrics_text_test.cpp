#include "tests/support/metrics_text.hpp"

#include <gtest/gtest.h>

#include <string>

namespace triggerd::testing {
namespace {

const std::string kMetrics =
    "# TYPE triggerd_events_dropped_total counter\n"
    "triggerd_events_dropped_total{reason=\"rejected\",trigger=\"hook\"} 3\n"
    "triggerd_events_dropped_total{reason=\"rejected\",trigger=\"hook-2\"} 5\n"
    "triggerd_build_info{version=\"0.1.0\"} 1\n"
    "triggerd_queue_depth{trigger=\"hook\"} 0.5";

TEST(MetricsSample, ReadsTheValueOfTheSeriesNamedExactly) {
  EXPECT_EQ(sample(kMetrics, R"(triggerd_events_dropped_total{reason="rejected",trigger="hook"})"),
            3.0);
  EXPECT_EQ(sample(kMetrics, R"(triggerd_build_info{version="0.1.0"})"), 1.0);
  EXPECT_EQ(sample(kMetrics, R"(triggerd_queue_depth{trigger="hook"})"), 0.5) << "the last line";
}

TEST(MetricsSample, APrefixOfASeriesOrTheMiddleOfALineIsNoMatch) {
  EXPECT_EQ(sample(kMetrics, R"(triggerd_events_dropped_total{reason="rejected",trigger="ho)"),
            std::nullopt);
  EXPECT_EQ(sample(kMetrics, R"(trigger="hook"})"), std::nullopt);
  EXPECT_EQ(sample(kMetrics, "triggerd_events_dropped_total"), std::nullopt);
  EXPECT_EQ(sample("", "triggerd_build_info"), std::nullopt);
}

}  // namespace
}  // namespace triggerd::testing
