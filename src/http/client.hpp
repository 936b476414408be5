// The one HTTP client: Asio coroutines, keep-alive connections reused per peer, one
// deadline per request composed with awaitable operators, responses parsed by llhttp.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/uri.hpp"

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

class Client {
 public:
  explicit Client(asio::any_io_executor ex, size_t max_body_bytes = 64 * 1024 * 1024,
                  size_t max_idle_per_peer = 32);

  // One request; never throws, never outlives the deadline by more than the time to
  // close a socket. A pooled connection the peer closed meanwhile is retried once on a
  // fresh one.
  asio::awaitable<ClientResponse> request(const HttpUrl& peer, std::string_view method,
                                          std::string_view target, std::string_view body,
                                          std::chrono::steady_clock::time_point deadline);

  asio::awaitable<ClientResponse> get(const HttpUrl& peer, std::string_view target,
                                      std::chrono::steady_clock::time_point deadline) {
    return request(peer, "GET", target, {}, deadline);
  }

  // Drops every idle connection.
  void close_idle();

 private:
  using Socket = asio::ip::tcp::socket;
  std::unique_ptr<Socket> take_idle(const std::string& key);
  void put_idle(const std::string& key, std::unique_ptr<Socket> s);
  asio::awaitable<ClientResponse> exchange(Socket& s, const std::string& wire, bool& reusable,
                                           bool& sent_nothing_back);

  asio::any_io_executor ex_;
  size_t max_body_;
  size_t max_idle_;
  std::mutex mu_;
  std::map<std::string, std::vector<std::unique_ptr<Socket>>> idle_;
};

}  // namespace p2p::http
