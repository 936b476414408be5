#include "http/response_parser.hpp"

#include <climits>

namespace p2p::http {
namespace {

ResponseParser& self(llhttp_t* p) { return *static_cast<ResponseParser*>(p->data); }

}  // namespace

ResponseParser::ResponseParser(size_t max_body_bytes) : max_body_(max_body_bytes) {
  llhttp_settings_init(&settings_);
  settings_.on_message_begin = &ResponseParser::on_message_begin;
  settings_.on_headers_complete = &ResponseParser::on_headers_complete;
  settings_.on_body = &ResponseParser::on_body;
  settings_.on_message_complete = &ResponseParser::on_message_complete;
  llhttp_init(&parser_, HTTP_RESPONSE, &settings_);
  parser_.data = this;
}

int ResponseParser::on_message_begin(llhttp_t* p) {
  self(p).started_ = true;
  return 0;
}

int ResponseParser::on_headers_complete(llhttp_t* p) {
  auto& s = self(p);
  s.status_ = p->status_code;
  if (!(p->flags & F_CHUNKED) && p->content_length != ULLONG_MAX &&
      p->content_length > s.max_body_) {
    s.error_ = "response body is larger than " + std::to_string(s.max_body_) + " bytes";
    return -1;
  }
  // One allocation for the whole body, not a regrowth every few kilobytes.
  if (!(p->flags & F_CHUNKED) && p->content_length != ULLONG_MAX)
    s.body_.reserve(static_cast<size_t>(p->content_length));
  return 0;
}

int ResponseParser::on_body(llhttp_t* p, const char* at, size_t len) {
  auto& s = self(p);
  if (s.body_.size() + len > s.max_body_) {
    s.error_ = "response body is larger than " + std::to_string(s.max_body_) + " bytes";
    return -1;
  }
  s.body_.append(at, len);
  return 0;
}

int ResponseParser::on_message_complete(llhttp_t* p) {
  auto& s = self(p);
  s.keep_alive_ = llhttp_should_keep_alive(p) != 0;
  s.complete_ = true;
  return HPE_PAUSED;  // one response per exchange; anything after it is not ours
}

ResponseParser::State ResponseParser::feed(std::string_view data) {
  if (complete_) return State::complete;
  const llhttp_errno_t err = llhttp_execute(&parser_, data.data(), data.size());
  if (complete_) return State::complete;
  if (err == HPE_OK) return State::need_more;
  if (error_.empty())
    error_ = std::string("malformed HTTP response: ") + llhttp_get_error_reason(&parser_);
  return State::error;
}

ResponseParser::State ResponseParser::finish() {
  if (complete_) return State::complete;
  if (llhttp_finish(&parser_) == HPE_OK && complete_) return State::complete;
  if (error_.empty())
    error_ = started_ ? "connection closed in the middle of the response"
                      : "connection closed before any response";
  return State::error;
}

}  // namespace p2p::http
