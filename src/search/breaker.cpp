#include "search/breaker.hpp"

#include <algorithm>

namespace p2p {
namespace {

std::chrono::milliseconds jittered(std::chrono::milliseconds base) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_real_distribution<double> factor(0.8, 1.2);
  return std::chrono::milliseconds(
      static_cast<int64_t>(static_cast<double>(base.count()) * factor(rng)));
}

}  // namespace

const char* CircuitBreaker::name(State s) {
  switch (s) {
    case State::closed:
      return "closed";
    case State::open:
      return "open";
    case State::half_open:
      return "half_open";
  }
  return "?";
}

CircuitBreaker::State CircuitBreaker::state(Clock::time_point now) const {
  if (openings_ == 0) return State::closed;
  return now < open_until_ ? State::open : State::half_open;
}

bool CircuitBreaker::allow(Clock::time_point now) {
  switch (state(now)) {
    case State::closed:
      return true;
    case State::open:
      return false;
    case State::half_open:
      // A trial that never reported back (its search was abandoned) does not block forever.
      if (trial_in_flight_ && now - trial_started_ < kMaxCooldown) return false;
      trial_in_flight_ = true;
      trial_started_ = now;
      return true;
  }
  return false;
}

void CircuitBreaker::success() {
  failures_ = 0;
  openings_ = 0;
  trial_in_flight_ = false;
  failing_since_ = {};
}

void CircuitBreaker::failure(Clock::time_point now, bool timeout) {
  if (failures_ == 0) failing_since_ = now;
  ++failures_;
  const bool trial_failed = trial_in_flight_;
  trial_in_flight_ = false;
  if (trial_failed || timeout || failures_ >= kFailureThreshold) {
    ++openings_;
    auto cooldown = kBaseCooldown * (1 << std::min(openings_ - 1, 10));
    cooldown = std::min<std::chrono::milliseconds>(cooldown, kMaxCooldown);
    open_until_ = now + std::min<std::chrono::milliseconds>(jittered(cooldown), kMaxCooldown);
  }
}

}  // namespace p2p
