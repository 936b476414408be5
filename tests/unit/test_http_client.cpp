#include <doctest/doctest.h>

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "http/client.hpp"
#include "http/server.hpp"

using namespace p2p;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

// A server whose handler holds each request for `hold`, counting how many it holds at once.
struct SlowServer {
  asio::io_context& ctx;
  std::atomic<int> in_handler{0};
  std::atomic<int> most_at_once{0};
  http::Server server;
  HttpUrl url;

  SlowServer(asio::io_context& c, std::chrono::milliseconds hold, bool multithreaded)
      : ctx(c),
        server(
            c,
            [this, hold](http::Request&) -> asio::awaitable<http::Response> {
              const int now = ++in_handler;
              int seen = most_at_once.load();
              while (now > seen && !most_at_once.compare_exchange_weak(seen, now)) {
              }
              asio::steady_timer t(co_await asio::this_coro::executor, hold);
              co_await t.async_wait(asio::use_awaitable);
              --in_handler;
              co_return http::Response{.status = 200, .body = "{}"};
            },
            http::ServerLimits{.multithreaded = multithreaded}) {
    url.host = "127.0.0.1";
    url.port = server.listen("127.0.0.1", 0).port();
    server.start();
  }
};

// Runs `ctx` on `threads` threads until it stops.
void run(asio::io_context& ctx, unsigned threads) {
  std::vector<std::thread> extra;
  for (unsigned i = 1; i < threads; ++i) extra.emplace_back([&] { ctx.run(); });
  ctx.run();
  for (auto& t : extra) t.join();
}

// `n` requests at once to one peer through one connection; the results in completion order.
std::vector<http::ClientResponse> many_through_one(unsigned threads, int n,
                                                   std::chrono::milliseconds hold,
                                                   Clock::duration deadline) {
  asio::io_context ctx(static_cast<int>(threads));
  SlowServer slow(ctx, hold, threads > 1);
  http::Client client(ctx.get_executor(), 1024 * 1024, 1);
  std::mutex mu;
  std::vector<http::ClientResponse> results;
  const auto until = Clock::now() + deadline;
  for (int i = 0; i < n; ++i) {
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
          auto r = co_await client.get(slow.url, "/health", until);
          std::lock_guard lock(mu);
          results.push_back(std::move(r));
          if (static_cast<int>(results.size()) == n) {
            slow.server.stop();
            ctx.stop();
          }
        },
        asio::detached);
  }
  run(ctx, threads);
  CHECK(slow.most_at_once.load() == 1);  // the one connection carried them all, in turn
  return results;
}

}  // namespace

TEST_CASE("requests queued for one connection are all served: no wake-up is lost") {
  for (unsigned threads : {1u, 4u}) {
    CAPTURE(threads);
    // 200 hand-overs of the connection; one lost wake-up would leave its waiter to time
    // out at the deadline, long after the others finished.
    const auto results = many_through_one(threads, 200, 0ms, 20s);
    REQUIRE(results.size() == 200);
    for (const auto& r : results) {
      CHECK_MESSAGE(r.ok(), r.message);
      CHECK(r.status == 200);
    }
  }
}

TEST_CASE("a waiter whose deadline passes gives up, and the connection serves the next") {
  for (unsigned threads : {1u, 4u}) {
    CAPTURE(threads);
    asio::io_context ctx(static_cast<int>(threads));
    SlowServer slow(ctx, 300ms, threads > 1);
    http::Client client(ctx.get_executor(), 1024 * 1024, 1);
    http::ClientResponse holder, impatient, later;
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
          asio::co_spawn(
              ctx,
              [&]() -> asio::awaitable<void> {
                holder = co_await client.get(slow.url, "/health", Clock::now() + 20s);
              },
              asio::detached);
          asio::steady_timer poll(ctx);
          const auto bound = Clock::now() + 10s;
          while (slow.in_handler.load() == 0 && Clock::now() < bound) {
            poll.expires_after(1ms);
            co_await poll.async_wait(asio::use_awaitable);
          }
          // Waits behind the holder's 300 ms with a 50 ms deadline.
          impatient = co_await client.get(slow.url, "/health", Clock::now() + 50ms);
          later = co_await client.get(slow.url, "/health", Clock::now() + 20s);
          slow.server.stop();
          ctx.stop();
        },
        asio::detached);
    run(ctx, threads);
    CHECK(holder.ok());
    CHECK(impatient.error == http::ClientResponse::Error::timeout);
    CHECK_MESSAGE(later.ok(), later.message);
    CHECK(later.status == 200);
  }
}
