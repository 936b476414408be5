// HTTP/1.1 server on Asio C++20 coroutines: one coroutine per connection, keep-alive and
// pipelining, header/idle timeout, a bound on connections.
#pragma once

#include <array>
#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "core/metrics.hpp"
#include "http/message.hpp"
#include "http/request_parser.hpp"

namespace p2p::http {

using Handler = std::function<asio::awaitable<Response>(Request&)>;

struct ServerLimits {
  ParserLimits parser;
  std::chrono::milliseconds idle_timeout{30000};  // no complete request within it -> 408
  size_t max_connections = 10000;                 // beyond it: 503 and close
  // More than one thread runs the io_context: each connection then needs a strand.
  bool multithreaded = false;
};

class Server {
 public:
  Server(asio::io_context& ctx, Handler handler, ServerLimits limits = {});

  // Binds and listens; returns the bound endpoint (the real port when port is 0).
  // Throws std::system_error.
  asio::ip::tcp::endpoint listen(const std::string& ip, uint16_t port);

  // Serve HTTPS with this context (before start()). A plain HTTP request on the port gets a
  // 400 saying so; other bytes that are not a TLS handshake are dropped.
  void set_tls(std::shared_ptr<asio::ssl::context> tls) { tls_ = std::move(tls); }
  bool tls() const { return tls_ != nullptr; }

  // Starts accepting on the io_context.
  void start();

  // Stops accepting (from any thread); connections already open finish their current request.
  void stop();
  // Closes every open connection (from any thread), whatever it is doing: a download stuck
  // on a client that stopped reading, an upload whose body stopped arriving. Their
  // coroutines then end on their own executors (transfers released, temporaries removed).
  void close_connections();

  size_t connections() const { return connections_->load(std::memory_order_relaxed); }

  // p2p_http_rejected_total{reason}: what the server refused before any handler saw a
  // request (malformed or oversized requests, timeouts, the connection limit, TLS).
  void write_metrics(metrics::Exposition& e) const;

  enum Rejection {
    kBadRequest,          // 400: not HTTP, or a body on GET
    kRequestTimeout,      // 408
    kBodyTooLarge,        // 413
    kUriTooLong,          // 414
    kHeadersTooLarge,     // 431
    kTooManyConnections,  // 503 at accept
    kPlainHttpOnHttps,    // 400 telling the client to use https
    kTlsHandshakeFailed,
    kRejections
  };

 private:
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(asio::ip::tcp::socket socket);
  // The requests of one connection, on `Stream` (the socket itself, or TLS over it).
  template <class Stream>
  struct Connection;

  asio::io_context& ctx_;
  Handler handler_;
  ServerLimits limits_;
  asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<asio::ssl::context> tls_;
  // Shared with each connection's coroutine, which may outlive the server object when the
  // io_context destroys it at exit.
  std::shared_ptr<std::atomic<size_t>> connections_ = std::make_shared<std::atomic<size_t>>(0);
  // The open connections' sockets by id, each closed only on its connection's executor
  // (where it is also removed before the socket goes). Shared for the same reason.
  struct Live {
    std::mutex mu;
    uint64_t next = 0;
    std::unordered_map<uint64_t, std::pair<asio::any_io_executor, asio::ip::tcp::socket*>> sockets;
  };
  std::shared_ptr<Live> live_ = std::make_shared<Live>();
  // Shared for the same reason.
  using Rejections = std::array<metrics::Counter, kRejections>;
  std::shared_ptr<Rejections> rejected_ = std::make_shared<Rejections>();
};

}  // namespace p2p::http
