#include "connectors/http/body_budget.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace triggerd {
namespace {

const auto kFlooder = boost::asio::ip::make_address("192.0.2.1");
const auto kSender = boost::asio::ip::make_address("192.0.2.2");

TEST(BodyBudget, HalfForUnauthenticatedBodiesAndAnEighthOfThatPerPeer) {
  const BodyBudget budget(1600, 100);
  EXPECT_EQ(budget.limit(), 1600u);
  EXPECT_EQ(budget.unauthenticated_limit(), 800u);
  EXPECT_EQ(budget.peer_limit(), 100u);
  // Every part holds one whole body, however small the budget.
  const BodyBudget tiny(0, 1025);
  EXPECT_EQ(tiny.limit(), 1025u);
  EXPECT_EQ(tiny.unauthenticated_limit(), 1025u);
  EXPECT_EQ(tiny.peer_limit(), 1025u);
}

TEST(BodyBudget, AFloodingPeerCannotStarveOtherPeersOrAuthenticatedSenders) {
  BodyBudget budget(1600, 100);
  BodyBudget::Share first(budget, false, kFlooder);
  EXPECT_TRUE(first.grow(100));
  BodyBudget::Share second(budget, false, kFlooder);
  EXPECT_FALSE(second.grow(1)) << "the flooder's own room is spent";
  BodyBudget::Share other(budget, false, kSender);
  EXPECT_TRUE(other.grow(100));
  BodyBudget::Share signed_in(budget, true, kFlooder);
  EXPECT_TRUE(signed_in.grow(800)) << "authenticated bodies use the other half";
}

TEST(BodyBudget, ManyPeersShareHalfAndAuthenticatedSendersKeepTheRest) {
  BodyBudget budget(1600, 100);
  std::vector<std::unique_ptr<BodyBudget::Share>> shares;
  for (int peer = 0; peer < 8; ++peer) {
    const auto address = boost::asio::ip::make_address_v4(0xC0000200u + 10u + peer);
    shares.push_back(std::make_unique<BodyBudget::Share>(budget, false, address));
    EXPECT_TRUE(shares.back()->grow(100)) << peer;
  }
  BodyBudget::Share ninth(budget, false, boost::asio::ip::make_address("192.0.2.99"));
  EXPECT_FALSE(ninth.grow(1)) << "the unauthenticated half is spent";
  BodyBudget::Share signed_in(budget, true, kSender);
  EXPECT_TRUE(signed_in.grow(800));
  EXPECT_FALSE(signed_in.grow(1)) << "the whole budget is spent";
}

TEST(BodyBudget, ASharePaysBackWhatItHeldWhenItEnds) {
  BodyBudget budget(1600, 100);
  {
    BodyBudget::Share share(budget, false, kFlooder);
    EXPECT_TRUE(share.grow(60));
    EXPECT_TRUE(share.grow(40));
    EXPECT_FALSE(share.grow(1));
  }
  BodyBudget::Share again(budget, false, kFlooder);
  EXPECT_TRUE(again.grow(100));
  {
    BodyBudget::Share big(budget, true, kSender);
    EXPECT_TRUE(big.grow(1500));
  }
  BodyBudget::Share after(budget, true, kSender);
  EXPECT_TRUE(after.grow(1500));
}

}  // namespace
}  // namespace triggerd
