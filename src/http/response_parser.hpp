// Incremental HTTP/1.1 response parser on llhttp, with no sockets.
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace p2p::http {

class ResponseParser {
 public:
  explicit ResponseParser(size_t max_body_bytes);
  ResponseParser(const ResponseParser&) = delete;
  ResponseParser& operator=(const ResponseParser&) = delete;

  enum class State { need_more, complete, error };

  // Feeds bytes of one response.
  State feed(std::string_view data);
  // The connection closed: completes a response delimited by the close, or fails.
  State finish();

  int status() const { return status_; }
  const std::string& body() const { return body_; }
  std::string take_body() { return std::move(body_); }
  bool keep_alive() const { return keep_alive_; }
  const std::string& error() const { return error_; }
  bool started() const { return started_; }

 private:
  static int on_message_begin(llhttp_t*);
  static int on_body(llhttp_t*, const char*, size_t);
  static int on_headers_complete(llhttp_t*);
  static int on_message_complete(llhttp_t*);

  size_t max_body_;
  llhttp_settings_t settings_;
  llhttp_t parser_;
  int status_ = 0;
  std::string body_;
  std::string error_;
  bool keep_alive_ = false;
  bool started_ = false;
  bool complete_ = false;
};

}  // namespace p2p::http
