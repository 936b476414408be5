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

struct Response {
  int status = 200;
  std::string body;
  // A large body shared by many responses (a cached listing): sent from this buffer,
  // never copied. When set, `body` is unused.
  std::shared_ptr<const std::string> shared_body;
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
