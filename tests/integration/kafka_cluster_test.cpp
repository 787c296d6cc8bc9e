// The mock Kafka cluster fixture itself: the helper starts with its topics, the test-side
// producers (librdkafka and kcat) land where they should, and the offset queries see commits.
#include "tests/support/kafka_cluster.hpp"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <numeric>
#include <string>
#include <vector>

namespace triggerd::testing {
namespace {

std::int64_t sum(const std::vector<std::int64_t>& offsets) {
  return std::accumulate(offsets.begin(), offsets.end(), std::int64_t{0});
}

TEST(KafkaClusterTest, ProducesSpreadOverPartitionsAndReadsBack) {
  KafkaCluster cluster({{"orders", 8}});
  EXPECT_EQ(cluster.bootstrap().rfind("127.0.0.1:", 0), 0u) << cluster.bootstrap();
  cluster.produce_spread("orders", 8, 800);
  const std::vector<std::int64_t> ends = cluster.end_offsets("orders", 8);
  for (const std::int64_t end : ends) EXPECT_EQ(end, 100);

  cluster.produce("orders",
                  {KafkaMessage{"k1", "with-headers", {{"content-type", "text/plain"}}, 3}});
  const std::vector<KafkaRecord> records = cluster.read_all("orders", 801);
  ASSERT_EQ(records.size(), 801u);
  bool found = false;
  for (const auto& record : records) {
    if (record.value != "with-headers") continue;
    found = true;
    EXPECT_EQ(record.partition, 3);
    EXPECT_EQ(record.offset, 100);
    EXPECT_EQ(record.key, "k1");
    EXPECT_EQ(record.header("content-type"), "text/plain");
  }
  EXPECT_TRUE(found);
}

TEST(KafkaClusterTest, KcatProducesAsAnOutsideClient) {
  KafkaCluster cluster({{"events", 2}});
  cluster.produce_with_kcat("events", {"a", "b", "c"});
  EXPECT_EQ(sum(cluster.end_offsets("events", 2)), 3);
  const std::vector<KafkaRecord> records = cluster.read_all("events", 3);
  ASSERT_EQ(records.size(), 3u);
}

TEST(KafkaClusterTest, CommittedOffsetsOfAGroup) {
  KafkaCluster cluster({{"jobs", 2}});
  cluster.produce_spread("jobs", 2, 10);
  EXPECT_EQ(cluster.committed("workers", "jobs", 2), (std::vector<std::int64_t>{-1, -1}));

  // Commit through a consumer of the group, as triggerd will.
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  ASSERT_EQ(rd_kafka_conf_set(conf, "bootstrap.servers", cluster.bootstrap().c_str(), error,
                              sizeof(error)),
            RD_KAFKA_CONF_OK);
  ASSERT_EQ(rd_kafka_conf_set(conf, "group.id", "workers", error, sizeof(error)), RD_KAFKA_CONF_OK);
  rd_kafka_t* consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof(error));
  ASSERT_NE(consumer, nullptr) << error;
  rd_kafka_topic_partition_list_t* offsets = rd_kafka_topic_partition_list_new(2);
  rd_kafka_topic_partition_list_add(offsets, "jobs", 0)->offset = 4;
  rd_kafka_topic_partition_list_add(offsets, "jobs", 1)->offset = 5;
  EXPECT_EQ(rd_kafka_commit(consumer, offsets, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_topic_partition_list_destroy(offsets);
  rd_kafka_consumer_close(consumer);
  rd_kafka_destroy(consumer);

  EXPECT_EQ(cluster.committed("workers", "jobs", 2), (std::vector<std::int64_t>{4, 5}));
}

// A consumer of `group` that commits `offset` for partition 0 of `topic` synchronously.
rd_kafka_resp_err_t commit_once(const std::string& bootstrap, const std::string& group,
                                const std::string& topic, std::int64_t offset) {
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), error, sizeof(error));
  rd_kafka_conf_set(conf, "group.id", group.c_str(), error, sizeof(error));
  rd_kafka_conf_set(conf, "log_level", "0", error, sizeof(error));
  rd_kafka_t* consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof(error));
  if (consumer == nullptr) return RD_KAFKA_RESP_ERR__FAIL;
  rd_kafka_topic_partition_list_t* offsets = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(offsets, topic.c_str(), 0)->offset = offset;
  rd_kafka_resp_err_t err = rd_kafka_commit(consumer, offsets, 0);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) err = offsets->elems[0].err;
  rd_kafka_topic_partition_list_destroy(offsets);
  rd_kafka_consumer_close(consumer);
  rd_kafka_destroy(consumer);
  return err;
}

TEST(KafkaClusterTest, FailsTheNextCommitsWhenAsked) {
  KafkaCluster cluster({{"jobs", 1}});
  cluster.produce_spread("jobs", 1, 5);
  cluster.fail_commits(2, RD_KAFKA_RESP_ERR_INVALID_COMMIT_OFFSET_SIZE);
  EXPECT_EQ(commit_once(cluster.bootstrap(), "workers", "jobs", 1),
            RD_KAFKA_RESP_ERR_INVALID_COMMIT_OFFSET_SIZE);
  EXPECT_EQ(commit_once(cluster.bootstrap(), "workers", "jobs", 2),
            RD_KAFKA_RESP_ERR_INVALID_COMMIT_OFFSET_SIZE);
  EXPECT_EQ(commit_once(cluster.bootstrap(), "workers", "jobs", 3), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(cluster.committed("workers", "jobs", 1), (std::vector<std::int64_t>{3}));
}

TEST(KafkaClusterTest, ABrokerDownRefusesClientsUntilItIsUpAgain) {
  KafkaCluster cluster({{"jobs", 1}});
  cluster.set_broker_down(1, true);
  EXPECT_THROW(cluster.end_offsets("jobs", 1), std::runtime_error);
  cluster.set_broker_down(1, false);
  EXPECT_EQ(cluster.end_offsets("jobs", 1), (std::vector<std::int64_t>{0}));
}

}  // namespace
}  // namespace triggerd::testing
