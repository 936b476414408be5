#include <doctest/doctest.h>

#include <array>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>
#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "http/client.hpp"
#include "http/server.hpp"

using namespace p2p;
using namespace std::chrono_literals;

namespace {

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// A server with a large shared body at /big (sent with sendfile), a small one at /small and
// a plain one at /plain.
struct BodyServer {
  std::shared_ptr<const http::SharedBody> big =
      std::make_shared<const http::SharedBody>(random_bytes(3 * 1024 * 1024 + 17, 1));
  std::shared_ptr<const http::SharedBody> small =
      std::make_shared<const http::SharedBody>(random_bytes(100, 2));
  http::Server server;
  HttpUrl url;

  explicit BodyServer(asio::io_context& ctx)
      : server(ctx, [this](http::Request& req) -> asio::awaitable<http::Response> {
          http::Response r;
          if (req.target == "/big") r.shared_body = big;
          if (req.target == "/small") r.shared_body = small;
          if (req.target == "/plain") r.body = "{\"plain\":true}";
          co_return r;
        }) {
    url.host = "127.0.0.1";
    url.port = server.listen("127.0.0.1", 0).port();
    server.start();
  }
};

// GETs each of `targets` on `connections` connections at once (each its own list, in turn).
std::vector<http::ClientResponse> get_all(BodyServer& s, asio::io_context& ctx,
                                          const std::vector<std::string>& targets,
                                          size_t connections) {
  http::Client client(ctx.get_executor(), 64 * 1024 * 1024, connections);
  std::vector<http::ClientResponse> results(targets.size() * connections);
  size_t done = 0;
  for (size_t c = 0; c < connections; ++c) {
    asio::co_spawn(
        ctx,
        [&, c]() -> asio::awaitable<void> {
          for (size_t i = 0; i < targets.size(); ++i)
            results[c * targets.size() + i] =
                co_await client.get(s.url, targets[i], std::chrono::steady_clock::now() + 20s);
          if (++done == connections) {
            s.server.stop();
            ctx.stop();  // the idle keep-alive connections would otherwise wait out their timeout
          }
        },
        asio::detached);
  }
  ctx.run();
  return results;
}

}  // namespace

TEST_CASE("shared bodies: a large one goes by sendfile, and the connection carries on") {
  asio::io_context ctx(1);
  BodyServer s(ctx);
  CHECK(s.big->fd() >= 0);
  CHECK(s.small->fd() < 0);
  const std::vector<std::string> targets{"/big", "/small", "/big", "/plain", "/big"};
  const auto results = get_all(s, ctx, targets, 1);
  for (size_t i = 0; i < targets.size(); ++i) {
    INFO(targets[i]);
    REQUIRE(results[i].ok());
    CHECK(results[i].status == 200);
    const std::string& want = targets[i] == "/big"     ? s.big->bytes()
                              : targets[i] == "/small" ? s.small->bytes()
                                                       : std::string("{\"plain\":true}");
    CHECK(results[i].body.size() == want.size());
    CHECK(results[i].body == want);
  }
}

TEST_CASE("shared bodies: many connections at once each get the whole body") {
  asio::io_context ctx(1);
  BodyServer s(ctx);
  const auto results = get_all(s, ctx, {"/big", "/big"}, 16);
  for (const auto& r : results) {
    REQUIRE(r.ok());
    CHECK(r.status == 200);
    CHECK(r.body == s.big->bytes());
  }
}

TEST_CASE("shared bodies: a client that goes away mid-body costs only its connection") {
  asio::io_context ctx(1);
  BodyServer s(ctx);
  auto guard = asio::make_work_guard(ctx);
  std::thread quitter([&] {
    for (int i = 0; i < 3; ++i) {
      asio::io_context io;
      asio::ip::tcp::socket sock(io);
      sock.connect({asio::ip::make_address("127.0.0.1"), s.url.port});
      const std::string req = "GET /big HTTP/1.1\r\n\r\n";
      asio::write(sock, asio::buffer(req));
      std::array<char, 4096> some;
      sock.read_some(asio::buffer(some));
      // Unread data makes close() a reset: the server's next sendfile hits a dead socket.
      sock.set_option(asio::socket_base::linger(true, 0));
      sock.close();
    }
    asio::post(ctx, [&] { ctx.stop(); });
  });
  ctx.run();  // serves the quitter until it is done
  quitter.join();
  guard.reset();
  ctx.restart();
  const auto results = get_all(s, ctx, {"/big"}, 1);
  REQUIRE(results[0].ok());
  CHECK(results[0].body == s.big->bytes());
}
