// Incremental HTTP/1.1 request parser on llhttp, with no sockets: bytes in, complete
// requests or an error status out. Stops after each request so that pipelined requests
// are answered in order.
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "http/message.hpp"

namespace p2p::http {

struct ParserLimits {
  size_t max_header_bytes = 16 * 1024;  // request line + headers
  size_t max_body_bytes = 64 * 1024;
};

class RequestParser {
 public:
  explicit RequestParser(ParserLimits limits = {});
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  enum class State { need_more, request_ready, error };
  struct Result {
    State state;
    size_t consumed;  // bytes of `data` used; feed the rest again after a request_ready
  };

  // Feeds bytes. On request_ready, request() holds the request until the next feed().
  // On error, error_status()/error_message() say what to answer; the connection must close.
  Result feed(std::string_view data);

  Request& request() { return req_; }
  int error_status() const { return error_status_; }
  const std::string& error_message() const { return error_message_; }
  // True while part of a request has arrived but not all of it.
  bool mid_request() const { return in_message_; }

 private:
  static int on_message_begin(llhttp_t*);
  static int on_url(llhttp_t*, const char*, size_t);
  static int on_header_field(llhttp_t*, const char*, size_t);
  static int on_header_value(llhttp_t*, const char*, size_t);
  static int on_headers_complete(llhttp_t*);
  static int on_body(llhttp_t*, const char*, size_t);
  static int on_message_complete(llhttp_t*);
  int fail(int status, std::string message);
  bool count_header_bytes(size_t n);

  ParserLimits limits_;
  llhttp_settings_t settings_;
  llhttp_t parser_;
  Request req_;
  size_t header_bytes_ = 0;
  bool in_message_ = false;
  bool paused_ = false;
  int error_status_ = 0;
  std::string error_message_;
};

}  // namespace p2p::http
