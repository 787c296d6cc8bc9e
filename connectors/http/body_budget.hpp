#pragma once
// The memory the webhook server may spend on request bodies being read (docs/delivery.md,
// Webhooks). Every body grows into a share of one budget for all connections, so memory stays
// bounded whatever clients do. Bodies that nobody has authenticated yet (an open route, or a
// signature route until its signature is checked) get at most half of it, and those from one
// peer address at most an eighth of that half: a client that floods a route with bodies it
// cannot sign, or sends them slowly to hold memory, runs out of its own room first, and
// senders whose bearer token passed before their body was read keep the other half.
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <map>

namespace triggerd {

class BodyBudget {
 public:
  // `limit`: all bodies together; `one_body`: the largest single body (max_body_size + 1),
  // which every part of the budget can always hold.
  BodyBudget(std::uint64_t limit, std::uint64_t one_body);
  BodyBudget(const BodyBudget&) = delete;
  BodyBudget& operator=(const BodyBudget&) = delete;

  // One request's share, given back when it is destroyed.
  class Share {
   public:
    Share(BodyBudget& budget, bool authenticated, boost::asio::ip::address peer);
    ~Share();
    Share(const Share&) = delete;
    Share& operator=(const Share&) = delete;
    // Takes `bytes` more, or nothing and false when that is over a limit.
    bool grow(std::uint64_t bytes);

   private:
    BodyBudget& budget_;
    const bool authenticated_;
    const boost::asio::ip::address peer_;
    std::uint64_t held_ = 0;
  };

  std::uint64_t limit() const { return limit_; }
  std::uint64_t unauthenticated_limit() const { return unauthenticated_limit_; }
  std::uint64_t peer_limit() const { return peer_limit_; }

 private:
  const std::uint64_t limit_;
  const std::uint64_t unauthenticated_limit_;
  const std::uint64_t peer_limit_;
  std::uint64_t used_ = 0;
  std::uint64_t unauthenticated_used_ = 0;
  std::map<boost::asio::ip::address, std::uint64_t> used_by_peer_;  // unauthenticated bytes
};

}  // namespace triggerd
