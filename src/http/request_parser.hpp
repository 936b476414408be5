// Incremental HTTP/1.1 request parser on llhttp, with no sockets: bytes in, complete
// requests or an error status out. Stops after each request so that pipelined requests
// are answered in order. A PUT's body (unless empty) is streamed: the parser stops after its
// headers (headers_ready), and the body's bytes then come out of feed_body into the caller's
// buffer, never held whole.
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

  // headers_ready: a streamed request's headers (PUT); its body comes through feed_body.
  enum class State { need_more, headers_ready, request_ready, error };
  struct Result {
    State state;
    size_t consumed;  // bytes of `data` used; feed the rest again after a request_ready
  };

  // Feeds bytes. On request_ready, request() holds the request until the next feed().
  // On error, error_status()/error_message() say what to answer; the connection must close.
  Result feed(std::string_view data);

  // After headers_ready: feeds bytes of the streamed body, whose content goes to `out`
  // (framing removed; `out` may be where `data` is: bytes only ever move towards its
  // start). At most `room` bytes of `data` are used, so at most `room` bytes are written.
  // need_more: the body goes on; request_ready: it ended (`consumed` stops there); error.
  struct BodyResult {
    State state;
    size_t consumed;
    size_t body_bytes;  // written to out
  };
  BodyResult feed_body(std::string_view data, char* out, size_t room);

  Request& request() { return req_; }
  int error_status() const { return error_status_; }
  const std::string& error_message() const { return error_message_; }
  // True while part of a request has arrived but not all of it.
  bool mid_request() const { return in_message_; }

 private:
  static int on_message_begin(llhttp_t*);
  static int on_url(llhttp_t*, const char*, size_t);
  static int on_header_field(llhttp_t*, const char*, size_t);
  static int on_header_field_complete(llhttp_t*);
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
  std::string field_;                // the header name arriving
  Header current_ = Header::kCount;  // the header whose value arrives; kCount: skipped
  bool streamed_ = false;            // this request's body goes through feed_body
  bool at_headers_ = false;          // paused after a streamed request's headers
  char* body_out_ = nullptr;         // where feed_body puts the body
  size_t body_used_ = 0;
  bool in_message_ = false;
  bool paused_ = false;
  int error_status_ = 0;
  std::string error_message_;
};

}  // namespace p2p::http
