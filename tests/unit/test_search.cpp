#include <doctest/doctest.h>

#include <chrono>

#include "search/breaker.hpp"
#include "search/peer_set.hpp"
#include "search/seen_queries.hpp"

using namespace p2p;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST_CASE("the breaker opens after three failures and lets one trial through later") {
  CircuitBreaker b;
  const auto t0 = Clock::now();
  CHECK(b.allow(t0));
  b.failure(t0, false);
  b.failure(t0, false);
  CHECK(b.state(t0) == CircuitBreaker::State::closed);
  b.failure(t0, false);
  CHECK(b.state(t0) == CircuitBreaker::State::open);
  CHECK_FALSE(b.allow(t0 + 100ms));
  const auto later = b.open_until() + 1ms;
  CHECK(b.open_until() - t0 >= 800ms);  // 1 s with at most 20 % jitter
  CHECK(b.open_until() - t0 <= 1200ms);
  CHECK(b.state(later) == CircuitBreaker::State::half_open);
  CHECK(b.allow(later));        // the trial
  CHECK_FALSE(b.allow(later));  // only one
  b.success();
  CHECK(b.state(later) == CircuitBreaker::State::closed);
  CHECK(b.consecutive_failures() == 0);
}

TEST_CASE("a timeout opens at once, and failed trials double the cool-down up to 30 s") {
  CircuitBreaker b;
  auto t = Clock::now();
  b.failure(t, true);
  CHECK(b.state(t) == CircuitBreaker::State::open);
  auto previous = b.open_until() - t;
  for (int i = 0; i < 10; ++i) {
    t = b.open_until() + 1ms;
    REQUIRE(b.allow(t));
    b.failure(t, false);
    const auto cooldown = b.open_until() - t;
    CHECK(cooldown <= CircuitBreaker::kMaxCooldown);
    if (previous < 10s) CHECK(cooldown > previous);
    previous = cooldown;
  }
  CHECK(previous >= 24s);  // reached the cap (minus jitter)
}

TEST_CASE("peer set: order, announcements, bound, forgetting") {
  PeerSet set(parse_http_url("http://127.0.0.1:8002"), parse_http_url("http://127.0.0.1:8003"), 3);
  const auto t = Clock::now();
  CHECK(set.learn(*parse_http_url("http://10.0.0.1:1"), "10.0.0.1:2", "a", t));
  CHECK_FALSE(set.learn(*parse_http_url("http://10.0.0.1:1"), "10.0.0.1:2", "a", t));
  CHECK_FALSE(set.learn(*parse_http_url("http://127.0.0.1:8002"), "127.0.0.1:50052", "P2", t));
  set.learn(*parse_http_url("http://10.0.0.2:1"), "", "b", t + 1s);
  set.learn(*parse_http_url("http://10.0.0.3:1"), "", "c", t + 2s);
  set.learn(*parse_http_url("http://10.0.0.4:1"), "", "d", t + 3s);  // evicts the oldest, a
  const auto order = set.in_order();
  REQUIRE(order.size() == 5);
  CHECK(order[0].port == 8002);
  CHECK(order[1].port == 8003);
  CHECK(order[2].host == "10.0.0.2");
  CHECK(order[4].host == "10.0.0.4");
  // A learned peer failing for over a minute is forgotten; the titular never is.
  const auto b = *parse_http_url("http://10.0.0.2:1");
  set.report(b, false, false, t + 10s);
  set.report(b, false, false, t + 80s);
  CHECK(set.learned_count() == 2);
  const auto titular = *parse_http_url("http://127.0.0.1:8002");
  set.report(titular, false, true, t + 10s);
  set.report(titular, false, true, t + 100s);
  CHECK(set.in_order().size() == 4);
  CHECK_FALSE(set.allow(titular, t + 100s));
  const auto json = set.to_json(t + 100s);
  CHECK(json.at(0).at("state") == "open");
  CHECK(json.at(0).at("name") == "P2");
}

TEST_CASE("seen queries") {
  SeenQueries seen(6s);
  const auto t = Clock::now();
  CHECK(seen.first_time("q1", t));
  CHECK_FALSE(seen.first_time("q1", t + 1s));
  CHECK(seen.first_time("q2", t + 1s));
  CHECK_FALSE(seen.first_time("q2", t + 5s));
  CHECK(seen.first_time("q1", t + 7s));  // forgotten after max_age
}
