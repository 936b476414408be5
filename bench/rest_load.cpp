#include "rest_load.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <vector>

#include "http/client.hpp"
#include "stats.hpp"

namespace p2p::bench {

RestResult rest_load(const HttpUrl& peer, const std::string& target, int concurrency,
                     std::chrono::milliseconds duration) {
  using Clock = std::chrono::steady_clock;
  asio::io_context io(1);
  std::vector<double> latencies_us;
  latencies_us.reserve(1 << 20);
  RestResult r;
  const std::string wire = http::request_text(peer, "GET", target);
  Clock::time_point start, stop;

  auto worker = [&]() -> asio::awaitable<void> {
    auto c = std::make_unique<http::Connection>(io.get_executor(), 64 << 20);
    if (co_await c->connect(peer)) {
      ++r.errors;
      co_return;
    }
    while (Clock::now() < stop) {
      bool reusable = false, nothing_back = false;
      const auto t0 = Clock::now();
      const auto resp = co_await c->exchange(wire, reusable, nothing_back);
      const auto t1 = Clock::now();
      if (resp.ok() && resp.status == 200) {
        ++r.requests;
        latencies_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      } else {
        ++r.errors;
      }
      if (!reusable) {
        c = std::make_unique<http::Connection>(io.get_executor(), 64 << 20);
        if (co_await c->connect(peer)) {
          ++r.errors;
          co_return;
        }
      }
    }
  };
  start = Clock::now();
  stop = start + duration;
  for (int i = 0; i < concurrency; ++i) asio::co_spawn(io, worker(), asio::detached);
  io.run();
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  r.rps = static_cast<double>(r.requests) / secs;
  r.p50_us = quantile(latencies_us, 0.50);
  r.p99_us = quantile(latencies_us, 0.99);
  r.max_us = latencies_us.empty() ? 0 : latencies_us.back();
  return r;
}

}  // namespace p2p::bench
