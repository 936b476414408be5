// HTTP requests and responses as the server hands them to a handler and writes them back.
#pragma once

#include <asio/ip/tcp.hpp>
#include <memory>
#include <string>
#include <string_view>

namespace p2p::http {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // raw request target: "/buscar?archivo=x"
  std::string body;
  bool keep_alive = true;
  int http_minor = 1;
  asio::ip::tcp::endpoint local;   // where the request arrived
  asio::ip::tcp::endpoint remote;  // who sent it

  std::string_view path() const;
  std::string_view query() const;  // after '?', without it; empty when none
};

// A body built once and sent by many responses (a cached listing, the OpenAPI document). From
// kSendfileMin bytes it is also kept in a memfd, which the server sends with sendfile: the
// kernel then takes the pages themselves, and nobody copies the body (for a 10,000-file
// listing that copy was 44% of the peer's time). Smaller ones, and TLS, go from `bytes`.
class SharedBody {
 public:
  static constexpr size_t kSendfileMin = 64 * 1024;

  explicit SharedBody(std::string bytes);
  ~SharedBody();
  SharedBody(const SharedBody&) = delete;
  SharedBody& operator=(const SharedBody&) = delete;

  const std::string& bytes() const { return bytes_; }
  size_t size() const { return bytes_.size(); }
  // The memfd holding the same bytes, or -1 (small, or no memfd on this kernel).
  int fd() const { return fd_; }

 private:
  std::string bytes_;
  int fd_ = -1;
};

struct Response {
  int status = 200;
  std::string body;
  // When set, the body (and `body` is unused): never copied per response.
  std::shared_ptr<const SharedBody> shared_body;
  std::string_view content_type = "application/json";
  bool close = false;  // close the connection after this response
};

std::string_view reason_phrase(int status);

// {"error": message} with the given status; the one shape of every error body.
Response json_error(int status, std::string_view message);

// Appends the serialised response (status line, headers, then the body unless omit_body
// or the body is shared: the caller sends a shared body itself, right after) to out.
void serialize(const Response& r, const Request* req, bool omit_body, std::string& out);

}  // namespace p2p::http
