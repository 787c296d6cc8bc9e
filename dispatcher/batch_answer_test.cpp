#include "dispatcher/batch_answer.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

namespace triggerd {
namespace {

using ::testing::ElementsAre;
using ::testing::Each;
using ::testing::HasSubstr;
using S = ItemStatus;

struct Read {
  std::string problem;
  std::vector<ItemStatus> statuses;
};

Read read(std::string_view body, bool cut = false) {
  const std::array<std::string_view, 4> ids{"a", "b", "c", "a"};  // "a" twice
  Read result;
  result.statuses.assign(ids.size(), S::drop);  // overwritten whatever the answer
  result.problem = read_batch_answer(body, cut, ids, result.statuses);
  return result;
}

TEST(BatchAnswer, AnEmptyOrPlainAnswerDeliversAll) {
  for (std::string_view body : {"", "  \r\n", "OK", "{}", "[1,2]", R"({"ok":true})"}) {
    const Read answer = read(body);
    EXPECT_EQ(answer.problem, "") << body;
    EXPECT_THAT(answer.statuses, Each(S::success)) << body;
  }
}

TEST(BatchAnswer, StatusesArePerEventAndUnlistedOnesRetry) {
  const Read answer = read(R"({"statuses":[
      {"id":"b","status":"drop"},
      {"id":"a","status":"success"},
      {"id":"zzz","status":"success"}]})");
  EXPECT_EQ(answer.problem, "");
  // c is not listed: retry. Both events with id a take a's status.
  EXPECT_THAT(answer.statuses, ElementsAre(S::success, S::drop, S::retry, S::success));
}

TEST(BatchAnswer, MalformedStatusEntriesAndUnknownStatusesRetry) {
  const Read answer = read(R"({"statuses":[
      {"id":"a","status":"success"}, {"id":"b"}, 7, {"id":"c","status":"maybe"}]})");
  EXPECT_EQ(answer.problem, "");
  EXPECT_THAT(answer.statuses, ElementsAre(S::success, S::retry, S::retry, S::success));
  EXPECT_THAT(read(R"({"statuses":[{"id":"a","status":"retry"}]})").statuses,
              ElementsAre(S::retry, S::retry, S::retry, S::retry));
}

TEST(BatchAnswer, LambdaItemFailuresRetryTheListedOnes) {
  const Read answer = read(R"({"batchItemFailures":[{"itemIdentifier":"c"}]})");
  EXPECT_EQ(answer.problem, "");
  EXPECT_THAT(answer.statuses, ElementsAre(S::success, S::success, S::retry, S::success));
  EXPECT_THAT(read(R"({"batchItemFailures":[]})").statuses, Each(S::success));
}

TEST(BatchAnswer, AMalformedListRetriesTheWholeBatch) {
  for (std::string_view body : {R"({"statuses":{}})", R"({"batchItemFailures":"c"})",
                                R"({"batchItemFailures":[{"itemIdentifier":""}]})",
                                R"({"batchItemFailures":[{"id":"c"}]})",
                                R"({"batchItemFailures":[{"itemIdentifier":"nope"}]})"}) {
    const Read answer = read(body);
    EXPECT_NE(answer.problem, "") << body;
    EXPECT_THAT(answer.statuses, Each(S::retry)) << body;
  }
  EXPECT_THAT(read(R"({"batchItemFailures":[{"itemIdentifier":"nope"}]})").problem,
              HasSubstr("not in the batch"));
}

TEST(BatchAnswer, AnAnswerTooLongToReadRetriesTheWholeBatch) {
  const Read answer = read(R"({"statuses":[)", true);
  EXPECT_THAT(answer.problem, HasSubstr("too long"));
  EXPECT_THAT(answer.statuses, Each(S::retry));
}

}  // namespace
}  // namespace triggerd
