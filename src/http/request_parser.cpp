#include "http/request_parser.hpp"

#include <cstring>

namespace p2p::http {
namespace {

RequestParser& self(llhttp_t* p) { return *static_cast<RequestParser*>(p->data); }

// Each header line costs its ": " and CRLF beyond the bytes the callbacks see.
constexpr size_t kHeaderLineOverhead = 4;

}  // namespace

RequestParser::RequestParser(ParserLimits limits) : limits_(limits) {
  llhttp_settings_init(&settings_);
  settings_.on_message_begin = &RequestParser::on_message_begin;
  settings_.on_url = &RequestParser::on_url;
  settings_.on_header_field = &RequestParser::on_header_field;
  settings_.on_header_field_complete = &RequestParser::on_header_field_complete;
  settings_.on_header_value = &RequestParser::on_header_value;
  settings_.on_headers_complete = &RequestParser::on_headers_complete;
  settings_.on_body = &RequestParser::on_body;
  settings_.on_message_complete = &RequestParser::on_message_complete;
  llhttp_init(&parser_, HTTP_REQUEST, &settings_);
  parser_.data = this;
}

int RequestParser::fail(int status, std::string message) {
  error_status_ = status;
  error_message_ = std::move(message);
  return HPE_USER;
}

bool RequestParser::count_header_bytes(size_t n) {
  header_bytes_ += n;
  return header_bytes_ <= limits_.max_header_bytes;
}

int RequestParser::on_message_begin(llhttp_t* p) {
  auto& s = self(p);
  s.in_message_ = true;
  s.header_bytes_ = 0;
  s.req_.target.clear();
  s.req_.body.clear();
  for (auto& h : s.req_.headers) h.clear();
  s.req_.content_length.reset();
  s.req_.body_reader = nullptr;
  s.field_.clear();
  s.streamed_ = false;
  return 0;
}

int RequestParser::on_url(llhttp_t* p, const char* at, size_t len) {
  auto& s = self(p);
  if (!s.count_header_bytes(len))
    return s.fail(414, "request target is longer than " +
                           std::to_string(s.limits_.max_header_bytes) + " bytes");
  s.req_.target.append(at, len);
  return 0;
}

int RequestParser::on_header_field(llhttp_t* p, const char* at, size_t len) {
  auto& s = self(p);
  if (!s.count_header_bytes(len + kHeaderLineOverhead))
    return s.fail(431, "request headers are larger than " +
                           std::to_string(s.limits_.max_header_bytes) + " bytes");
  // No header we keep has a longer name; a longer one is skipped without being stored.
  if (s.field_.size() + len <= 32)
    s.field_.append(at, len);
  else
    s.field_.assign("-");
  return 0;
}

int RequestParser::on_header_field_complete(llhttp_t* p) {
  auto& s = self(p);
  s.current_ = header_of(s.field_);
  s.field_.clear();
  if (s.current_ != Header::kCount) {
    auto& value = s.req_.headers[static_cast<size_t>(s.current_)];
    if (!value.empty()) value.append(", ");  // a repeated header: the values as one list
  }
  return 0;
}

int RequestParser::on_header_value(llhttp_t* p, const char* at, size_t len) {
  auto& s = self(p);
  if (!s.count_header_bytes(len))
    return s.fail(431, "request headers are larger than " +
                           std::to_string(s.limits_.max_header_bytes) + " bytes");
  if (s.current_ != Header::kCount) s.req_.headers[static_cast<size_t>(s.current_)].append(at, len);
  return 0;
}

int RequestParser::on_headers_complete(llhttp_t* p) {
  auto& s = self(p);
  // llhttp takes a request line without a version for HTTP/0.9; answering it with an
  // HTTP/1.1 response would be a protocol it did not ask for, so it is refused, as nginx does.
  if (p->http_major == 0)
    return s.fail(400, "the request line has no HTTP version (HTTP/0.9 is not supported)");
  s.req_.method = llhttp_method_name(static_cast<llhttp_method_t>(p->method));
  s.req_.http_minor = p->http_minor;
  const bool chunked = (p->flags & F_CHUNKED) != 0;
  const bool has_body = chunked || p->content_length > 0;
  if (has_body && (p->method == HTTP_GET || p->method == HTTP_HEAD))
    return s.fail(400, "a GET request may not carry a body");
  if (p->flags & F_CONTENT_LENGTH) s.req_.content_length = p->content_length;
  if (p->method == HTTP_PUT && has_body) {
    // The route reads it (and bounds it) as it arrives.
    s.streamed_ = true;
    s.at_headers_ = true;
    return HPE_PAUSED;
  }
  if (!chunked && p->content_length > s.limits_.max_body_bytes)
    return s.fail(
        413, "request body is larger than " + std::to_string(s.limits_.max_body_bytes) + " bytes");
  return 0;
}

int RequestParser::on_body(llhttp_t* p, const char* at, size_t len) {
  auto& s = self(p);
  if (s.streamed_) {
    // Fed through feed() instead of feed_body(): the bytes are dropped.
    if (!s.body_out_) return 0;
    // feed_body gave at most as many bytes as `body_out_` has room for.
    char* to = s.body_out_ + s.body_used_;
    if (to != at) std::memmove(to, at, len);
    s.body_used_ += len;
    return 0;
  }
  if (s.req_.body.size() + len > s.limits_.max_body_bytes)
    return s.fail(
        413, "request body is larger than " + std::to_string(s.limits_.max_body_bytes) + " bytes");
  s.req_.body.append(at, len);
  return 0;
}

int RequestParser::on_message_complete(llhttp_t* p) {
  auto& s = self(p);
  s.req_.keep_alive = llhttp_should_keep_alive(p) != 0;
  s.in_message_ = false;
  return HPE_PAUSED;
}

RequestParser::Result RequestParser::feed(std::string_view data) {
  if (paused_) {
    llhttp_resume(&parser_);
    paused_ = false;
  }
  if (error_status_ != 0) return {State::error, 0};
  const llhttp_errno_t err = llhttp_execute(&parser_, data.data(), data.size());
  if (err == HPE_OK) return {State::need_more, data.size()};
  if (err == HPE_PAUSED) {
    paused_ = true;
    const size_t used = static_cast<size_t>(llhttp_get_error_pos(&parser_) - data.data());
    if (at_headers_) {
      at_headers_ = false;
      return {State::headers_ready, used};
    }
    return {State::request_ready, used};
  }
  if (error_status_ == 0) {
    error_status_ = err == HPE_INVALID_VERSION ? 505 : 400;
    error_message_ = std::string("malformed HTTP request: ") + llhttp_get_error_reason(&parser_);
  }
  return {State::error, data.size()};
}

RequestParser::BodyResult RequestParser::feed_body(std::string_view data, char* out, size_t room) {
  body_out_ = out;
  body_used_ = 0;
  const Result r = feed(data.substr(0, room));
  body_out_ = nullptr;
  return {r.state, r.consumed, body_used_};
}

}  // namespace p2p::http
