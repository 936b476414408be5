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

ClientResponse timeout(const std::string& key) {
  return failure(ClientResponse::Error::timeout, "no reply from " + key + " in time");
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

std::optional<Client::Lease> Client::take_or_queue(const std::string& key, OpSignal& waiter) {
  std::lock_guard lock(mu_);
  auto& slots = peers_[key];
  if (!slots.idle.empty()) {
    Lease lease{std::move(slots.idle.back()), false};
    slots.idle.pop_back();
    return lease;
  }
  if (slots.open < max_per_peer_) {
    ++slots.open;
    return Lease{nullptr, true};
  }
  slots.waiting.push_back(&waiter);
  return std::nullopt;
}

void Client::wake_one(PeerSlots& slots) {
  if (slots.waiting.empty()) return;
  slots.waiting.front()->notify(true);
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

std::shared_ptr<asio::ssl::context> Client::tls_context() {
  std::lock_guard lock(mu_);
  if (!tls_) tls_ = client_tls_context("");
  return tls_;
}

asio::awaitable<std::optional<Client::Lease>> Client::acquire(const std::string& key,
                                                              asio::steady_timer& timer) {
  for (;;) {
    OpSignal woken(ex_);
    if (auto lease = take_or_queue(key, woken)) co_return lease;
    // Every connection to this peer is busy: wait for one to come back, within the deadline.
    auto res = co_await (woken.wait() || timer.async_wait(use_nothrow));
    const bool signalled = res.index() == 0 && std::get<0>(res);
    {
      // `woken` dies with this iteration: it must not stay in the queue.
      std::lock_guard lock(mu_);
      auto& slots = peers_[key];
      const bool still_queued = std::erase(slots.waiting, &woken) > 0;
      // A wake-up meant for us that we will not use goes to the next waiter.
      if (!still_queued && !signalled) wake_one(slots);
    }
    // The deadline passed, or our caller cancelled us.
    if (!signalled) co_return std::nullopt;
  }
}

asio::awaitable<std::optional<ClientResponse>> Client::connect(Lease& lease, const HttpUrl& peer,
                                                               const std::string& key,
                                                               asio::steady_timer& timer) {
  std::shared_ptr<asio::ssl::context> tls;
  if (peer.tls) {
    try {
      tls = tls_context();
    } catch (const std::exception& e) {
      give_back(key, nullptr);
      co_return failure(ClientResponse::Error::io, e.what());
    }
  }
  lease.connection = std::make_unique<Connection>(ex_, max_body_, std::move(tls));
  auto res = co_await (lease.connection->connect(peer) || timer.async_wait(use_nothrow));
  if (res.index() == 0 && !std::get<0>(res)) co_return std::nullopt;
  give_back(key, nullptr);
  if (res.index() == 1) co_return timeout(key);
  const auto ec = std::get<0>(res);
  co_return failure(is_refusal(ec) ? ClientResponse::Error::refused : ClientResponse::Error::io,
                    (lease.connection->tls() ? "TLS handshake with " : "cannot connect to ") + key +
                        ": " + ec.message());
}

asio::awaitable<ClientResponse> Client::exchange(Lease lease, const std::string& key,
                                                 const std::string& wire, asio::steady_timer& timer,
                                                 bool& stale) {
  stale = false;
  bool reusable = false, nothing_back = false;
  auto res = co_await (lease.connection->exchange(wire, reusable, nothing_back) ||
                       timer.async_wait(use_nothrow));
  if (res.index() == 1) {
    give_back(key, nullptr);
    co_return timeout(key);
  }
  ClientResponse r = std::move(std::get<0>(res));
  give_back(key, r.ok() && reusable ? std::move(lease.connection) : nullptr);
  stale = !r.ok() && !lease.fresh && nothing_back;
  co_return r;
}

asio::awaitable<ClientResponse> Client::request(HttpUrl peer, std::string method,
                                                std::string target, std::string body,
                                                std::chrono::steady_clock::time_point deadline) {
  const std::string key = peer.str();
  const std::string wire = request_text(peer, method, target, body);
  asio::steady_timer timer(ex_);
  timer.expires_at(deadline);
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto lease = co_await acquire(key, timer);
    if (!lease) co_return timeout(key);
    if (lease->fresh) {
      if (auto failed = co_await connect(*lease, peer, key, timer)) co_return std::move(*failed);
    }
    bool stale = false;
    ClientResponse r = co_await exchange(std::move(*lease), key, wire, timer, stale);
    // A kept-alive connection the peer had closed meanwhile: try once more.
    if (!stale) co_return r;
  }
  co_return failure(ClientResponse::Error::io, "connection to " + key + " failed");
}

}  // namespace p2p::http
