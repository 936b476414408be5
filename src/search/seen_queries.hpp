// Query ids this peer has handled recently, so a forwarded search that comes back around
// a cycle is answered locally and never forwarded again. Bounded in size and age.
#pragma once

#include <chrono>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_set>

namespace p2p {

class SeenQueries {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kMaxEntries = 100000;
  static constexpr std::chrono::seconds kMaxAge{120};

  // True the first time `qid` is seen (within kMaxAge), false after.
  bool first_time(const std::string& qid, Clock::time_point now);

 private:
  std::mutex mu_;
  std::unordered_set<std::string> ids_;
  std::deque<std::pair<Clock::time_point, std::string>> order_;
};

}  // namespace p2p
