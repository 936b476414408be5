#include "search/seen_queries.hpp"

#include <functional>

namespace p2p {

bool SeenQueries::first_time(const std::string& qid, Clock::time_point now) {
  const uint64_t id = std::hash<std::string>{}(qid);
  std::lock_guard lock(mu_);
  while (!order_.empty() &&
         (order_.size() >= kMaxEntries || now - order_.front().first > max_age_)) {
    ids_.erase(order_.front().second);
    order_.pop_front();
  }
  if (!ids_.insert(id).second) return false;
  order_.emplace_back(now, id);
  return true;
}

}  // namespace p2p
