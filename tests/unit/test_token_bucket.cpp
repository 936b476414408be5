#include <doctest/doctest.h>

#include <algorithm>

#include "core/token_bucket.hpp"

using namespace p2p;
using namespace std::chrono_literals;
using Clock = TokenBucket::Clock;

namespace {

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Sends `total` bytes in `chunk`s through the bucket in simulated time, each chunk after
// the wait the bucket asked for; returns the simulated time it took.
double simulate(TokenBucket& b, uint64_t total, uint64_t chunk, Clock::time_point start) {
  Clock::time_point now = start;
  for (uint64_t sent = 0; sent < total; sent += chunk) now += b.reserve(chunk, now);
  return seconds(now - start);
}

}  // namespace

TEST_CASE("unlimited never waits") {
  TokenBucket b(0);
  CHECK(b.reserve(1ull << 40, Clock::now()) == Clock::duration::zero());
}

TEST_CASE("the long-run rate is the configured one, whatever the chunk size") {
  const auto t0 = Clock::time_point{} + 1000s;
  for (uint64_t chunk : {uint64_t{1000}, uint64_t{65536}, uint64_t{4 << 20}}) {
    CAPTURE(chunk);
    TokenBucket b(100'000'000);  // 100 MB/s, burst 10 MB
    const double t = simulate(b, 1'000'000'000, chunk, t0);
    // 1 GB at 100 MB/s: 10 s, less the initial burst (0.1 s), within one chunk.
    CHECK(t == doctest::Approx(9.9).epsilon(0.01));
  }
}

TEST_CASE("a pause refills at most the burst") {
  const auto t0 = Clock::time_point{} + 1000s;
  TokenBucket b(1'000'000, 100'000);
  CHECK(b.reserve(100'000, t0) == Clock::duration::zero());
  CHECK(seconds(b.reserve(100'000, t0)) == doctest::Approx(0.1));
  // An hour later the bucket holds its burst, not an hour's worth.
  const auto later = t0 + 3600s;
  CHECK(b.reserve(100'000, later) == Clock::duration::zero());
  CHECK(seconds(b.reserve(50'000, later)) == doctest::Approx(0.05));
}

TEST_CASE("several senders share one rate") {
  const auto t0 = Clock::time_point{} + 1000s;
  TokenBucket b(10'000'000, 65536);
  Clock::time_point now[3] = {t0, t0, t0};
  uint64_t sent = 0;
  // Round robin: each sender sends its next chunk at its own time, after its own wait.
  while (sent < 30'000'000) {
    for (auto& t : now) {
      t += b.reserve(65536, t);
      sent += 65536;
    }
  }
  const auto last = std::max({now[0], now[1], now[2]});
  CHECK(seconds(last - t0) == doctest::Approx(3.0).epsilon(0.01));
}
