#include "http/client.hpp"

#include <array>
#include <asio/connect.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ssl/host_name_verification.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "http/response_parser.hpp"
#include "http/tls.hpp"

namespace p2p::http {
namespace {

using namespace asio::experimental::awaitable_operators;
constexpr auto use_nothrow = asio::experimental::as_tuple(asio::use_awaitable);
using Clock = std::chrono::steady_clock;

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

std::string request_text(const HttpUrl& peer, std::string_view method, std::string_view target,
                         std::string_view body) {
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
  return wire;
}

Connection::Connection(asio::any_io_executor ex, size_t max_body_bytes,
                       std::shared_ptr<asio::ssl::context> tls)
    : socket_(std::move(ex)), max_body_(max_body_bytes), tls_context_(std::move(tls)) {}

asio::awaitable<std::error_code> Connection::connect(const HttpUrl& peer) {
  std::error_code ec;
  const auto addr = asio::ip::make_address(peer.host, ec);
  if (!ec) {
    std::tie(ec) = co_await socket_.async_connect({addr, peer.port}, use_nothrow);
  } else {
    asio::ip::tcp::resolver resolver(socket_.get_executor());
    auto [rec, endpoints] =
        co_await resolver.async_resolve(peer.host, std::to_string(peer.port), use_nothrow);
    if (rec) co_return rec;
    asio::ip::tcp::endpoint ep;
    std::tie(ec, ep) = co_await asio::async_connect(socket_, endpoints, use_nothrow);
  }
  if (ec) co_return ec;
  std::error_code ignored;
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
  if (!peer.tls) co_return ec;
  if (!tls_context_) co_return std::make_error_code(std::errc::protocol_not_supported);
  tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, *tls_context_);
  // SNI for names (not for addresses), and the certificate must name what we dialled.
  std::error_code not_an_address;
  asio::ip::make_address(peer.host, not_an_address);
  if (not_an_address) SSL_set_tlsext_host_name(tls_->native_handle(), peer.host.c_str());
  tls_->set_verify_callback(asio::ssl::host_name_verification(peer.host));
  std::tie(ec) = co_await tls_->async_handshake(asio::ssl::stream_base::client, use_nothrow);
  co_return ec;
}

asio::awaitable<ClientResponse> Connection::exchange(const std::string& wire, bool& reusable,
                                                     bool& nothing_back) {
  if (tls_) co_return co_await exchange_on(*tls_, wire, reusable, nothing_back);
  co_return co_await exchange_on(socket_, wire, reusable, nothing_back);
}

template <class Stream>
asio::awaitable<ClientResponse> Connection::exchange_on(Stream& stream, const std::string& wire,
                                                        bool& reusable, bool& nothing_back) {
  reusable = false;
  nothing_back = false;
  auto [wec, written] = co_await asio::async_write(stream, asio::buffer(wire), use_nothrow);
  if (wec) {
    nothing_back = true;
    co_return failure(ClientResponse::Error::io, "sending the request failed: " + wec.message());
  }
  ResponseParser parser(max_body_);
  std::array<char, 16 * 1024> buf;
  for (;;) {
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(buf), use_nothrow);
    ResponseParser::State state;
    if (ec) {
      // A TLS server that closes without close_notify before answering is a closed
      // connection, like EOF; after it began answering, the reply may be cut short.
      const bool closed =
          ec == asio::error::eof || (ec == asio::ssl::error::stream_truncated && !parser.started());
      if (!closed) {
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
      r.body = parser.take_body();
      reusable = !ec && parser.keep_alive();
      co_return r;
    }
  }
}

Client::Client(asio::any_io_executor ex, size_t max_body_bytes, size_t max_connections_per_peer)
    : ex_(std::move(ex)), max_body_(max_body_bytes), max_per_peer_(max_connections_per_peer) {}

std::unique_ptr<Connection> Client::take(const std::string& key, bool& may_open) {
  std::lock_guard lock(mu_);
  auto& slots = peers_[key];
  may_open = false;
  if (!slots.idle.empty()) {
    auto c = std::move(slots.idle.back());
    slots.idle.pop_back();
    return c;
  }
  if (slots.open < max_per_peer_) {
    ++slots.open;
    may_open = true;
  }
  return nullptr;
}

void Client::wake_one(PeerSlots& slots) {
  if (slots.waiting.empty()) return;
  slots.waiting.front()->cancel();
  slots.waiting.pop_front();
}

void Client::give_back(const std::string& key, std::unique_ptr<Connection> c) {
  std::lock_guard lock(mu_);
  auto& slots = peers_[key];
  if (c) {
    slots.idle.push_back(std::move(c));
  } else {
    --slots.open;
  }
  wake_one(slots);
}

asio::awaitable<ClientResponse> Client::request(HttpUrl peer, std::string method,
                                                std::string target, std::string body,
                                                std::chrono::steady_clock::time_point deadline) {
  const std::string key = peer.str();
  const std::string wire = request_text(peer, method, target, body);
  std::shared_ptr<asio::ssl::context> tls;
  if (peer.tls) {
    std::lock_guard lock(mu_);
    try {
      if (!tls_) tls_ = client_tls_context("");
    } catch (const std::exception& e) {
      co_return failure(ClientResponse::Error::io, e.what());
    }
    tls = tls_;
  }
  const auto timeout = [&] {
    return failure(ClientResponse::Error::timeout, "no reply from " + key + " in time");
  };
  asio::steady_timer timer(ex_);
  timer.expires_at(deadline);
  for (int attempt = 0; attempt < 2;) {
    bool fresh = false;
    std::unique_ptr<Connection> c = take(key, fresh);
    if (!c && !fresh) {
      // Every connection to this peer is busy: wait for one, within the deadline.
      asio::steady_timer wait(ex_);
      wait.expires_at(deadline);
      {
        std::lock_guard lock(mu_);
        peers_[key].waiting.push_back(&wait);
      }
      auto [ec] = co_await wait.async_wait(use_nothrow);
      bool deadline_passed = !ec;
      {
        // Whatever woke us (give_back, the deadline, or our caller cancelling), the timer
        // dies with this scope: it must not stay in the queue.
        std::lock_guard lock(mu_);
        auto& slots = peers_[key];
        const bool still_queued = std::erase(slots.waiting, &wait) > 0;
        // A wake-up meant for us that we will not use goes to the next waiter.
        if (!still_queued && deadline_passed) wake_one(slots);
        deadline_passed = deadline_passed || Clock::now() >= deadline;
      }
      if (deadline_passed) co_return timeout();
      continue;
    }
    if (fresh) {
      c = std::make_unique<Connection>(ex_, max_body_, tls);
      auto res = co_await (c->connect(peer) || timer.async_wait(use_nothrow));
      if (res.index() == 1 || std::get<0>(res)) {
        give_back(key, nullptr);
        if (res.index() == 1) co_return timeout();
        const auto ec = std::get<0>(res);
        co_return failure(
            is_refusal(ec) ? ClientResponse::Error::refused : ClientResponse::Error::io,
            (c->tls() ? "TLS handshake with " : "cannot connect to ") + key + ": " + ec.message());
      }
    }
    ++attempt;
    bool reusable = false, nothing_back = false;
    auto res =
        co_await (c->exchange(wire, reusable, nothing_back) || timer.async_wait(use_nothrow));
    if (res.index() == 1) {
      give_back(key, nullptr);
      co_return timeout();
    }
    ClientResponse r = std::move(std::get<0>(res));
    give_back(key, r.ok() && reusable ? std::move(c) : nullptr);
    // A kept-alive connection the peer had closed meanwhile: try once on a fresh one.
    if (!r.ok() && !fresh && nothing_back) continue;
    co_return r;
  }
  co_return failure(ClientResponse::Error::io, "connection to " + key + " failed");
}

}  // namespace p2p::http
