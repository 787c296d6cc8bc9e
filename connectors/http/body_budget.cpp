#include "connectors/http/body_budget.hpp"

#include <algorithm>
#include <utility>

namespace triggerd {

BodyBudget::BodyBudget(std::uint64_t limit, std::uint64_t one_body)
    : limit_(std::max(limit, one_body)),
      unauthenticated_limit_(std::max(limit_ / 2, one_body)),
      peer_limit_(std::max(unauthenticated_limit_ / 8, one_body)) {}

BodyBudget::Share::Share(BodyBudget& budget, bool authenticated, boost::asio::ip::address peer)
    : budget_(budget), authenticated_(authenticated), peer_(std::move(peer)) {}

BodyBudget::Share::~Share() {
  budget_.used_ -= held_;
  if (authenticated_ || held_ == 0) return;
  budget_.unauthenticated_used_ -= held_;
  const auto it = budget_.used_by_peer_.find(peer_);
  if ((it->second -= held_) == 0) budget_.used_by_peer_.erase(it);
}

bool BodyBudget::Share::grow(std::uint64_t bytes) {
  BodyBudget& b = budget_;
  if (bytes > b.limit_ - b.used_) return false;
  if (!authenticated_) {
    if (bytes > b.unauthenticated_limit_ - b.unauthenticated_used_) return false;
    std::uint64_t& by_peer = b.used_by_peer_[peer_];
    if (bytes > b.peer_limit_ - by_peer) {
      if (by_peer == 0) b.used_by_peer_.erase(peer_);
      return false;
    }
    by_peer += bytes;
    b.unauthenticated_used_ += bytes;
  }
  b.used_ += bytes;
  held_ += bytes;
  return true;
}

}  // namespace triggerd
