#include "http/message.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <charconv>

namespace p2p::http {

namespace {

constexpr std::array<std::string_view, static_cast<size_t>(Header::kCount)> kHeaderNames{
    "authorization", "digest", "expect",      "if-none-match",
    "if-range",      "range",  "repr-digest", "x-sha256"};

}  // namespace

bool iequals(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

Header header_of(std::string_view field) {
  for (size_t i = 0; i < kHeaderNames.size(); ++i)
    if (iequals(field, kHeaderNames[i])) return static_cast<Header>(i);
  return Header::kCount;
}

FileBody::~FileBody() {
  if (fd_ >= 0) ::close(fd_);
}

asio::awaitable<bool> FileBody::pace(uint64_t) { co_return true; }

std::string_view Request::path() const {
  const auto q = target.find('?');
  return std::string_view(target).substr(0, q);
}

std::string_view Request::query() const {
  const auto q = target.find('?');
  if (q == std::string::npos) return {};
  std::string_view rest = std::string_view(target).substr(q + 1);
  return rest.substr(0, rest.find('#'));
}

SharedBody::SharedBody(std::string bytes) : bytes_(std::move(bytes)) {
  if (bytes_.size() < kSendfileMin) return;
  fd_ = ::memfd_create("p2p-shared-body", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd_ < 0) return;
  size_t done = 0;
  while (done < bytes_.size()) {
    const ssize_t n = ::write(fd_, bytes_.data() + done, bytes_.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  // Sealed, so that what sendfile sends can only be these bytes.
  if (done != bytes_.size() ||
      ::fcntl(fd_, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

SharedBody::~SharedBody() {
  if (fd_ >= 0) ::close(fd_);
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 416:
      return "Range Not Satisfiable";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 507:
      return "Insufficient Storage";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

Response json_error(int status, std::string_view message) {
  boost::json::object o;
  o["error"] = message;
  Response r;
  r.status = status;
  r.body = boost::json::serialize(o);
  return r;
}

void serialize(const Response& r, const Request* req, bool omit_body, std::string& out) {
  char num[24];
  out.append("HTTP/1.1 ");
  out.append(num, std::to_chars(num, num + sizeof num, r.status).ptr)
      .append(" ")
      .append(reason_phrase(r.status));
  out.append("\r\nServer: p2p-share\r\nX-Content-Type-Options: nosniff");
  const bool bodiless = r.status == 304;
  if (!bodiless) {
    out.append("\r\nContent-Type: ").append(r.content_type);
    out.append("\r\nContent-Length: ");
    const uint64_t length = r.file_body     ? r.file_body->length()
                            : r.shared_body ? r.shared_body->size()
                                            : r.body.size();
    out.append(num, std::to_chars(num, num + sizeof num, length).ptr);
  }
  if (!r.headers.empty()) {
    out.append("\r\n");
    out.append(r.headers.data(), r.headers.size() - 2);  // its last CRLF ends the line here
  }
  if (r.close) {
    out.append("\r\nConnection: close");
  } else if (req && req->http_minor == 0) {
    out.append("\r\nConnection: keep-alive");
  }
  out.append("\r\n\r\n");
  if (!omit_body && !bodiless && !r.shared_body && !r.file_body) out.append(r.body);
}

}  // namespace p2p::http
