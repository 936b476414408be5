// Query ids this peer has handled recently, so a forwarded search that comes back around
// a cycle is answered locally and never forwarded again. A cycle comes back within the
// search's own deadline, so ids are kept for twice that, at most kMaxEntries of them, as
// 64-bit hashes: memory stays small and flat however many searches go by.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_set>

namespace p2p {

class SeenQueries {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kMaxEntries = 100000;

  explicit SeenQueries(std::chrono::milliseconds max_age) : max_age_(max_age) {}

  // True the first time `qid` is seen (within max_age), false after.
  bool first_time(const std::string& qid, Clock::time_point now);

 private:
  const std::chrono::milliseconds max_age_;
  std::mutex mu_;
  std::unordered_set<uint64_t> ids_;
  std::deque<std::pair<Clock::time_point, uint64_t>> order_;
};

}  // namespace p2p
