// Peer health: a circuit breaker per peer. After 3 consecutive failures (or one timeout:
// a hung peer has already cost the whole wait) the peer is skipped for a cool-down that
// doubles with each opening, with jitter, capped at 30 s; then one trial request is let
// through, and its success closes the breaker again.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace p2p {

class CircuitBreaker {
 public:
  using Clock = std::chrono::steady_clock;
  enum class State { closed, open, half_open };

  static constexpr int kFailureThreshold = 3;
  static constexpr std::chrono::milliseconds kBaseCooldown{1000};
  static constexpr std::chrono::milliseconds kMaxCooldown{30000};

  // Whether a request may go to the peer now. In half-open state only one trial is let
  // through until it reports back.
  bool allow(Clock::time_point now);

  void success();
  // `timeout`: the peer accepted but did not answer in time; opens at once.
  void failure(Clock::time_point now, bool timeout);

  State state(Clock::time_point now) const;
  int consecutive_failures() const { return failures_; }
  Clock::time_point open_until() const { return open_until_; }
  // When the current run of failures began (epoch when healthy).
  Clock::time_point failing_since() const { return failing_since_; }

  static const char* name(State s);

 private:
  int failures_ = 0;
  int openings_ = 0;  // consecutive openings without a success
  bool trial_in_flight_ = false;
  Clock::time_point trial_started_{};
  Clock::time_point open_until_{};
  Clock::time_point failing_since_{};
};

}  // namespace p2p
