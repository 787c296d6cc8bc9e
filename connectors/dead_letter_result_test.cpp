// Which dead-letter failures are worth another write (temporary) and which are not (permanent),
// for every dead-letter type: a wrong answer here either drops events that a moment's patience
// would have saved, or holds a trigger up retrying what can never succeed.
#include "core/dead_letter_sink.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "connectors/kafka/kafka_dead_letter.hpp"
#include "connectors/redis/redis_dead_letter.hpp"
#include "dispatcher/http_dead_letter.hpp"

namespace triggerd {
namespace {

using Kind = DeadLetterResult::Kind;

const char* name(Kind kind) {
  switch (kind) {
    case Kind::ok:
      return "ok";
    case Kind::temporary:
      return "temporary";
    case Kind::permanent:
      return "permanent";
  }
  return "?";
}

CallResult answer(int status) {
  CallResult result;
  result.kind = CallResult::Kind::status;
  result.status = status;
  return result;
}

TEST(HttpDeadLetterResult, TakesA2xxRetriesPassingStatesAndGivesUpOnOtherStatuses) {
  struct Case {
    int status;
    Kind kind;
  };
  const std::vector<Case> cases{
      {200, Kind::ok},        {201, Kind::ok},        {204, Kind::ok},
      {299, Kind::ok},        {408, Kind::temporary}, {429, Kind::temporary},
      {500, Kind::temporary}, {502, Kind::temporary}, {503, Kind::temporary},
      {504, Kind::temporary}, {599, Kind::temporary}, {400, Kind::permanent},
      {401, Kind::permanent}, {403, Kind::permanent}, {404, Kind::permanent},
      {409, Kind::permanent}, {413, Kind::permanent}, {422, Kind::permanent},
      {301, Kind::permanent}, {100, Kind::permanent},
  };
  for (const Case& c : cases) {
    const DeadLetterResult result = http_dead_letter_result(answer(c.status));
    EXPECT_EQ(name(result.kind), std::string(name(c.kind))) << "status " << c.status;
    if (c.kind != Kind::ok) {
      EXPECT_EQ(result.reason, "status " + std::to_string(c.status));
    }
  }
}

TEST(HttpDeadLetterResult, RetriesTimeoutsAndConnectionErrors) {
  CallResult timeout;
  timeout.kind = CallResult::Kind::timeout;
  EXPECT_EQ(http_dead_letter_result(timeout).kind, Kind::temporary);
  EXPECT_EQ(http_dead_letter_result(timeout).reason, "timeout");

  CallResult refused;
  refused.kind = CallResult::Kind::connect_error;
  refused.error = "connection refused";
  EXPECT_EQ(http_dead_letter_result(refused).kind, Kind::temporary);
  EXPECT_EQ(http_dead_letter_result(refused).reason, "connect_error: connection refused");
}

TEST(RedisDeadLetterResult, RetriesAServerPassingThroughAStateAndGivesUpOnOtherErrors) {
  const std::vector<std::string> temporary{
      "LOADING Redis is loading the dataset in memory",
      "BUSY Redis is busy running a script. You can only call SCRIPT KILL or FUNCTION KILL.",
      "TRYAGAIN Multiple keys request during rehashing of slot",
      "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
      "CLUSTERDOWN The cluster is down",
      "READONLY You can't write against a read only replica.",
      "OOM command not allowed when used memory > 'maxmemory'.",
      "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist",
      "NOREPLICAS Not enough good replicas to write.",
  };
  for (const std::string& error : temporary) {
    const DeadLetterResult result = redis::redis_error_result(error);
    EXPECT_EQ(name(result.kind), std::string("temporary")) << error;
    EXPECT_EQ(result.reason, error);
  }
  const std::vector<std::string> permanent{
      "WRONGTYPE Operation against a key holding the wrong kind of value",
      "NOPERM User dlq has no permissions to run the 'xadd' command",
      "NOAUTH Authentication required.",
      "ERR wrong number of arguments for 'xadd' command",
      "ERR The ID specified in XADD is equal or smaller than the target stream top item",
      // Only the whole first word counts: a code that merely begins like a passing one is not.
      "BUSYGROUP Consumer Group name already exists",
  };
  for (const std::string& error : permanent) {
    EXPECT_EQ(name(redis::redis_error_result(error).kind), std::string("permanent")) << error;
  }
}

TEST(KafkaDeadLetterResult, GivesUpOnAMissingTopicAuthorizationAndOversizedMessages) {
  EXPECT_EQ(kafka::kafka_error_result(RD_KAFKA_RESP_ERR_NO_ERROR).kind, Kind::ok);
  for (const rd_kafka_resp_err_t error :
       {RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
        RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
        RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE, RD_KAFKA_RESP_ERR__FATAL}) {
    const DeadLetterResult result = kafka::kafka_error_result(error);
    EXPECT_EQ(name(result.kind), std::string("permanent")) << rd_kafka_err2name(error);
    EXPECT_EQ(result.reason, rd_kafka_err2str(error));
  }
  for (const rd_kafka_resp_err_t error :
       {RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR__QUEUE_FULL,
        RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__TRANSPORT,
        RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION}) {
    EXPECT_EQ(name(kafka::kafka_error_result(error).kind), std::string("temporary"))
        << rd_kafka_err2name(error);
  }
}

}  // namespace
}  // namespace triggerd
