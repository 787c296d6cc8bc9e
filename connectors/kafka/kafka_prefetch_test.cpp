#include "connectors/kafka/kafka_prefetch.hpp"

#include <gtest/gtest.h>

namespace triggerd::kafka {
namespace {

TEST(PrefetchLimits, AFewSlotsStillFetchInWorthwhileBatches) {
  const PrefetchLimits limits = prefetch_limits(1);
  EXPECT_EQ(limits.queued_min_messages, 64u);
  EXPECT_EQ(limits.queued_max_kbytes, 512u);
  EXPECT_EQ(limits.partition_fetch_bytes, 512u * 1024);
  EXPECT_EQ(limits.take_ahead, 1u);  // nothing taken that could not start
}

TEST(PrefetchLimits, GrowWithMaxInflightUpToTheCap) {
  const PrefetchLimits limits = prefetch_limits(500);
  EXPECT_EQ(limits.queued_min_messages, 500u);
  EXPECT_EQ(limits.queued_max_kbytes, 4000u);
  EXPECT_EQ(limits.partition_fetch_bytes, 4000u * 1024);
  EXPECT_EQ(limits.take_ahead, 32u);
  const PrefetchLimits most = prefetch_limits(100000);
  EXPECT_EQ(most.queued_min_messages, 1000u);
  EXPECT_EQ(most.queued_max_kbytes, 8192u);
  EXPECT_EQ(most.partition_fetch_bytes, 8u << 20);
}

}  // namespace
}  // namespace triggerd::kafka
