#include "http/client.hpp"

#include <array>
#include <asio/connect.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "http/response_parser.hpp"

namespace p2p::http {
namespace {

using namespace asio::experimental::awaitable_operators;
constexpr auto use_nothrow = asio::experimental::as_tuple(asio::use_awaitable);

ClientResponse failure(ClientResponse::Error e, std::string message) {
  ClientResponse r;
  r.error = e;
  r.message = std::move(message);
  return r;
}

bool is_refusal(const std::error_code& ec) {
  return ec == asio::error::connection_refused || ec == asio::error::host_unreachable ||
         ec == asio::error::network_unreachable || ec == asio::error::host_not_found;
}

asio::awaitable<std::error_code> connect(asio::ip::tcp::socket& s, const HttpUrl& peer) {
  std::error_code ec;
  const auto addr = asio::ip::make_address(peer.host, ec);
  if (!ec) {
    auto [cec] = co_await s.async_connect({addr, peer.port}, use_nothrow);
    co_return cec;
  }
  asio::ip::tcp::resolver resolver(s.get_executor());
  auto [rec, endpoints] =
      co_await resolver.async_resolve(peer.host, std::to_string(peer.port), use_nothrow);
  if (rec) co_return rec;
  auto [cec, ep] = co_await asio::async_connect(s, endpoints, use_nothrow);
  co_return cec;
}

}  // namespace

const char* error_name(ClientResponse::Error e) {
  switch (e) {
    case ClientResponse::Error::none:
      return "ok";
    case ClientResponse::Error::refused:
      return "refused";
    case ClientResponse::Error::timeout:
      return "timeout";
    case ClientResponse::Error::io:
      return "connection error";
    case ClientResponse::Error::protocol:
      return "bad reply";
  }
  return "error";
}

Client::Client(asio::any_io_executor ex, size_t max_body_bytes, size_t max_idle_per_peer)
    : ex_(std::move(ex)), max_body_(max_body_bytes), max_idle_(max_idle_per_peer) {}

std::unique_ptr<Client::Socket> Client::take_idle(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = idle_.find(key);
  if (it == idle_.end() || it->second.empty()) return nullptr;
  auto s = std::move(it->second.back());
  it->second.pop_back();
  return s;
}

void Client::put_idle(const std::string& key, std::unique_ptr<Socket> s) {
  std::lock_guard lock(mu_);
  auto& list = idle_[key];
  if (list.size() < max_idle_) list.push_back(std::move(s));
}

void Client::close_idle() {
  std::lock_guard lock(mu_);
  idle_.clear();
}

asio::awaitable<ClientResponse> Client::exchange(Socket& s, const std::string& wire, bool& reusable,
                                                 bool& nothing_back) {
  reusable = false;
  nothing_back = false;
  auto [wec, written] = co_await asio::async_write(s, asio::buffer(wire), use_nothrow);
  if (wec) {
    nothing_back = true;
    co_return failure(ClientResponse::Error::io, "sending the request failed: " + wec.message());
  }
  ResponseParser parser(max_body_);
  std::array<char, 16 * 1024> buf;
  for (;;) {
    auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), use_nothrow);
    ResponseParser::State state;
    if (ec) {
      if (ec != asio::error::eof) {
        nothing_back = !parser.started();
        co_return failure(ClientResponse::Error::io, "reading the reply failed: " + ec.message());
      }
      state = parser.finish();
      if (state != ResponseParser::State::complete) {
        nothing_back = !parser.started();
        co_return failure(ClientResponse::Error::io, parser.error());
      }
    } else {
      state = parser.feed(std::string_view(buf.data(), n));
    }
    if (state == ResponseParser::State::error)
      co_return failure(ClientResponse::Error::protocol, parser.error());
    if (state == ResponseParser::State::complete) {
      ClientResponse r;
      r.status = parser.status();
      r.body = parser.body();
      reusable = !ec && parser.keep_alive();
      co_return r;
    }
  }
}

asio::awaitable<ClientResponse> Client::request(const HttpUrl& peer, std::string_view method,
                                                std::string_view target, std::string_view body,
                                                std::chrono::steady_clock::time_point deadline) {
  const std::string key = peer.str();
  std::string wire;
  wire.reserve(128 + target.size() + body.size());
  wire.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ");
  wire.append(host_port(peer.host, peer.port));
  wire.append("\r\nUser-Agent: p2p-share\r\nAccept: application/json\r\n");
  if (!body.empty() || method != "GET") {
    wire.append("Content-Type: application/json\r\nContent-Length: ");
    wire.append(std::to_string(body.size())).append("\r\n");
  }
  wire.append("\r\n").append(body);

  asio::steady_timer timer(ex_);
  timer.expires_at(deadline);
  const auto timeout = [&] {
    return failure(ClientResponse::Error::timeout, "no reply from " + key + " in time");
  };
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<Socket> s = attempt == 0 ? take_idle(key) : nullptr;
    const bool pooled = s != nullptr;
    if (!s) {
      s = std::make_unique<Socket>(ex_);
      auto res = co_await (connect(*s, peer) || timer.async_wait(use_nothrow));
      if (res.index() == 1) co_return timeout();
      if (const auto ec = std::get<0>(res)) {
        co_return failure(
            is_refusal(ec) ? ClientResponse::Error::refused : ClientResponse::Error::io,
            "cannot connect to " + key + ": " + ec.message());
      }
      std::error_code ignored;
      s->set_option(asio::ip::tcp::no_delay(true), ignored);
    }
    bool reusable = false, nothing_back = false;
    auto res =
        co_await (exchange(*s, wire, reusable, nothing_back) || timer.async_wait(use_nothrow));
    if (res.index() == 1) co_return timeout();
    ClientResponse r = std::move(std::get<0>(res));
    // A kept-alive connection the peer had closed meanwhile: try once on a fresh one.
    if (!r.ok() && pooled && nothing_back) continue;
    if (r.ok() && reusable) put_idle(key, std::move(s));
    co_return r;
  }
  co_return failure(ClientResponse::Error::io, "connection to " + key + " failed");
}

}  // namespace p2p::http
