#include "search/seen_queries.hpp"

namespace p2p {

bool SeenQueries::first_time(const std::string& qid, Clock::time_point now) {
  std::lock_guard lock(mu_);
  while (!order_.empty() &&
         (order_.size() >= kMaxEntries || now - order_.front().first > kMaxAge)) {
    ids_.erase(order_.front().second);
    order_.pop_front();
  }
  if (!ids_.insert(qid).second) return false;
  order_.emplace_back(now, qid);
  return true;
}

}  // namespace p2p
