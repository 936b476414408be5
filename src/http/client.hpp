// The one HTTP client: Asio coroutines, keep-alive connections reused per peer (and
// bounded per peer), one deadline per request composed with awaitable operators,
// responses parsed by llhttp.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/uri.hpp"
#include "io/op_signal.hpp"

namespace p2p::http {

struct ClientResponse {
  enum class Error { none, refused, timeout, io, protocol };
  Error error = Error::none;
  std::string message;  // what went wrong, when error != none
  int status = 0;
  std::string body;

  bool ok() const { return error == Error::none; }
};

const char* error_name(ClientResponse::Error e);

// The bytes of a request: request line, Host, and a JSON body when there is one.
std::string request_text(const HttpUrl& peer, std::string_view method, std::string_view target,
                         std::string_view body = {});

// One connection to one peer: connect, then request/response exchanges on it. No
// deadlines here: the caller bounds each call (Client does; a load generator measures).
class Connection {
 public:
  // `tls`: the context for https peers; null: http only.
  Connection(asio::any_io_executor ex, size_t max_body_bytes,
             std::shared_ptr<asio::ssl::context> tls = nullptr);

  // `peer` must outlive the call. An https peer gets a TLS handshake that verifies its
  // certificate and host name.
  asio::awaitable<std::error_code> connect(const HttpUrl& peer);

  // Sends `wire` (which must outlive the call) and reads one response. `reusable`: the connection
  // may carry another request; `nothing_back`: the peer closed it before answering anything (a
  // stale keep-alive connection), so the request may be retried elsewhere.
  asio::awaitable<ClientResponse> exchange(const std::string& wire, bool& reusable,
                                           bool& nothing_back);

  asio::ip::tcp::socket& socket() { return socket_; }
  bool tls() const { return tls_ != nullptr; }

 private:
  template <class Stream>
  asio::awaitable<ClientResponse> exchange_on(Stream& stream, const std::string& wire,
                                              bool& reusable, bool& nothing_back);

  asio::ip::tcp::socket socket_;
  size_t max_body_;
  std::shared_ptr<asio::ssl::context> tls_context_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;
};

class Client {
 public:
  explicit Client(asio::any_io_executor ex, size_t max_body_bytes = 64 * 1024 * 1024,
                  size_t max_connections_per_peer = 64);

  // The context https peers are called with (before the first request); without one,
  // an https peer is verified against the system's CAs.
  void set_tls(std::shared_ptr<asio::ssl::context> tls) {
    std::lock_guard lock(mu_);
    tls_ = std::move(tls);
  }

  // One request; arguments are taken by value, so the coroutine owns them whatever the
  // caller's temporaries do. Never throws, never outlives the deadline by more than the time to
  // close a socket. A pooled connection the peer closed meanwhile is retried once on a
  // fresh one. At most max_connections_per_peer are open to one peer; more requests wait
  // for one of them (within their deadline).
  asio::awaitable<ClientResponse> request(HttpUrl peer, std::string method, std::string target,
                                          std::string body,
                                          std::chrono::steady_clock::time_point deadline);

  asio::awaitable<ClientResponse> get(HttpUrl peer, std::string target,
                                      std::chrono::steady_clock::time_point deadline) {
    return request(std::move(peer), "GET", std::move(target), {}, deadline);
  }

 private:
  // A connection to use: a pooled one, or (fresh) a slot to open a new one in.
  struct Lease {
    std::unique_ptr<Connection> connection;
    bool fresh = false;
  };
  struct PeerSlots {
    size_t open = 0;
    std::vector<std::unique_ptr<Connection>> idle;
    // Requests waiting for a connection to this peer, oldest first. A signal keeps a
    // wake-up that arrives before its waiter waits, and is safe from any thread.
    std::deque<OpSignal*> waiting;
  };

  // The steps of one request, each within the deadline `timer` runs to.
  asio::awaitable<std::optional<Lease>> acquire(const std::string& key, asio::steady_timer& timer);
  asio::awaitable<std::optional<ClientResponse>> connect(Lease& lease, const HttpUrl& peer,
                                                         const std::string& key,
                                                         asio::steady_timer& timer);
  asio::awaitable<ClientResponse> exchange(Lease lease, const std::string& key,
                                           const std::string& wire, asio::steady_timer& timer,
                                           bool& stale);

  // A lease now, or none and `waiter` queued (under one lock, so no give_back slips
  // between the two).
  std::optional<Lease> take_or_queue(const std::string& key, OpSignal& waiter);
  void give_back(const std::string& key, std::unique_ptr<Connection> c);  // null: closed
  void wake_one(PeerSlots& slots);
  // The TLS context an https peer is called with (created on first use).
  std::shared_ptr<asio::ssl::context> tls_context();

  asio::any_io_executor ex_;
  size_t max_body_;
  size_t max_per_peer_;
  std::shared_ptr<asio::ssl::context> tls_;
  std::mutex mu_;
  std::map<std::string, PeerSlots> peers_;
};

}  // namespace p2p::http
