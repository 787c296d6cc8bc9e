#include "connectors/kafka/kafka_prefetch.hpp"

#include <gtest/gtest.h>

namespace triggerd::kafka {
namespace {

TEST(PrefetchLimits, AFewSlotsStillGetAWorthwhileBuffer) {
  const PrefetchLimits limits = prefetch_limits(1);
  EXPECT_EQ(limits.buffer_messages, 256u);
  EXPECT_EQ(limits.queued_min_messages, 256u);
  EXPECT_EQ(limits.buffer_bytes, 4u << 20);
  EXPECT_EQ(limits.queued_max_kbytes, 4096u);
}

TEST(PrefetchLimits, GrowWithMaxInflightUpToTheCap) {
  const PrefetchLimits limits = prefetch_limits(1000);
  EXPECT_EQ(limits.buffer_messages, 1000u);
  EXPECT_EQ(limits.queued_min_messages, 1000u);
  EXPECT_EQ(limits.buffer_bytes, 1000u * 16 * 1024);
  EXPECT_EQ(limits.queued_max_kbytes, 16000u);
  EXPECT_EQ(prefetch_limits(100000).buffer_bytes, 16u << 20);
  EXPECT_EQ(prefetch_limits(100000).buffer_messages, 100000u);
}

}  // namespace
}  // namespace triggerd::kafka
