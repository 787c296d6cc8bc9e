#include "core/payload.hpp"

#include <gtest/gtest.h>

#include <string>

namespace triggerd {
namespace {

// Counts releases of a loan, as librdkafka's message would be destroyed.
struct Loan {
  std::string bytes = "fetched value";
  int released = 0;
  static void release(void* context) { ++static_cast<Loan*>(context)->released; }
};

TEST(Payload, OwnsTextItIsGiven) {
  Payload payload = std::string("hello");
  EXPECT_EQ(payload, "hello");
  EXPECT_EQ(payload.size(), 5u);
  EXPECT_FALSE(payload.is_lent());
  payload = "other";
  EXPECT_EQ(payload.view(), "other");
}

TEST(Payload, LentBytesAreReadInPlaceAndReleasedOnceWhenThePayloadEnds) {
  Loan loan;
  {
    Payload payload = Payload::lent(loan.bytes, &Loan::release, &loan);
    EXPECT_TRUE(payload.is_lent());
    EXPECT_EQ(payload.data(), loan.bytes.data());  // not a copy
    Payload moved = std::move(payload);
    EXPECT_EQ(moved, "fetched value");
    EXPECT_EQ(loan.released, 0);
  }
  EXPECT_EQ(loan.released, 1);
}

TEST(Payload, ALoanIsReleasedWhenThePayloadIsGivenOtherData) {
  Loan loan;
  Loan second;
  Payload payload = Payload::lent(loan.bytes, &Loan::release, &loan);
  payload = Payload::lent(second.bytes, &Loan::release, &second);
  EXPECT_EQ(loan.released, 1);
  EXPECT_EQ(second.released, 0);
  payload = std::string("owned now");
  EXPECT_EQ(second.released, 1);
  EXPECT_EQ(payload, "owned now");
}

}  // namespace
}  // namespace triggerd
