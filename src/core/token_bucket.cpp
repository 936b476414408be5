#include "core/token_bucket.hpp"

#include <algorithm>

namespace p2p {

TokenBucket::TokenBucket(uint64_t rate, uint64_t burst)
    : rate_(rate),
      burst_(static_cast<double>(burst ? burst : std::max<uint64_t>(rate / 10, 64 * 1024))),
      tokens_(burst_) {}

TokenBucket::Clock::duration TokenBucket::reserve(uint64_t n, Clock::time_point now) {
  if (rate_ == 0) return Clock::duration::zero();
  std::lock_guard lock(mu_);
  if (started_ && now > last_) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * static_cast<double>(rate_));
  }
  if (!started_ || now > last_) last_ = now;
  started_ = true;
  tokens_ -= static_cast<double>(n);
  if (tokens_ >= 0) return Clock::duration::zero();
  return std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(-tokens_ / static_cast<double>(rate_)));
}

}  // namespace p2p
