#include "http/message.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <charconv>

namespace p2p::http {

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
  out.append("\r\nServer: p2p-share\r\nContent-Type: ").append(r.content_type);
  out.append("\r\nContent-Length: ");
  const size_t length = r.shared_body ? r.shared_body->size() : r.body.size();
  out.append(num, std::to_chars(num, num + sizeof num, length).ptr);
  if (r.close) {
    out.append("\r\nConnection: close");
  } else if (req && req->http_minor == 0) {
    out.append("\r\nConnection: keep-alive");
  }
  out.append("\r\n\r\n");
  if (!omit_body && !r.shared_body) out.append(r.body);
}

}  // namespace p2p::http
