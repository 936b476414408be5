#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

#include "core/metrics.hpp"

using namespace p2p::metrics;

TEST_CASE("a counter sums what every thread added") {
  Counter c;
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) c.add();
    });
  for (auto& t : threads) t.join();
  c.add(5);
  CHECK(c.value() == 120005);
}

TEST_CASE("histogram buckets are upper bounds, cumulative, with +Inf and sum") {
  Histogram h({10, 100}, 1);
  for (uint64_t v : {0, 10, 11, 100, 101, 5000}) h.observe(v);
  const auto s = h.snapshot();
  REQUIRE(s.cumulative.size() == 3);
  CHECK(s.cumulative[0] == 2);  // 0, 10
  CHECK(s.cumulative[1] == 4);  // + 11, 100
  CHECK(s.cumulative[2] == 6);  // + 101, 5000
  CHECK(s.sum == 5222);
}

TEST_CASE("exposition text: families, labels escaped, histogram series") {
  Exposition e;
  e.family("x_total", "counter", "Things.\nCounted.");
  e.sample("x_total", {{"a", "q\"b\\c\nd"}}, uint64_t{7});
  e.sample("x_total", {}, 0.5);
  Histogram h({1000, 250000}, 1e6);
  h.observe(500);
  h.observe(2000000);
  e.family("d_seconds", "histogram", "Durations.");
  e.histogram("d_seconds", {{"route", "/r"}}, h);
  CHECK(e.text() ==
        "# HELP x_total Things. Counted.\n"
        "# TYPE x_total counter\n"
        "x_total{a=\"q\\\"b\\\\c\\nd\"} 7\n"
        "x_total 0.5\n"
        "# HELP d_seconds Durations.\n"
        "# TYPE d_seconds histogram\n"
        "d_seconds_bucket{route=\"/r\",le=\"0.001\"} 1\n"
        "d_seconds_bucket{route=\"/r\",le=\"0.25\"} 1\n"
        "d_seconds_bucket{route=\"/r\",le=\"+Inf\"} 2\n"
        "d_seconds_sum{route=\"/r\"} 2.0005\n"
        "d_seconds_count{route=\"/r\"} 2\n");
}

TEST_CASE("lazy slots make one series per slot, whatever the race") {
  LazySlots<Counter, 4> slots;
  CHECK(slots.get(2) == nullptr);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) slots.at(2, [] { return std::make_unique<Counter>(); }).add();
    });
  for (auto& t : threads) t.join();
  REQUIRE(slots.get(2) != nullptr);
  CHECK(slots.get(2)->value() == 8000);
  CHECK(slots.get(1) == nullptr);
}

TEST_CASE("process metrics are there on Linux") {
  Exposition e;
  write_process_metrics(e);
  CHECK(e.text().find("process_resident_memory_bytes ") != std::string::npos);
  CHECK(e.text().find("process_open_fds ") != std::string::npos);
  CHECK(e.text().find("process_start_time_seconds ") != std::string::npos);
}
