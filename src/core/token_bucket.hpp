// A token bucket for bandwidth limits: bytes are reserved before they are sent, and the
// caller waits what reserve() says. A reservation larger than what the bucket holds is
// granted by going into debt, which later reservations pay for, so chunks of any size
// keep the long-run rate exact. Safe from any thread; time is passed in, so it is tested
// in simulated time.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

namespace p2p {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  // `rate` bytes per second (0 = unlimited); `burst`: bytes that may go out at once after
  // a pause (0: a tenth of a second's worth, at least 64 KiB).
  explicit TokenBucket(uint64_t rate = 0, uint64_t burst = 0);

  uint64_t rate() const { return rate_; }

  // Reserves `n` bytes at `now`; returns how long to wait before sending them.
  Clock::duration reserve(uint64_t n, Clock::time_point now);

 private:
  const uint64_t rate_;
  const double burst_;
  std::mutex mu_;
  double tokens_;  // may be negative: bytes granted ahead of the rate
  Clock::time_point last_{};
  bool started_ = false;
};

}  // namespace p2p
