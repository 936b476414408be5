// HTTP requests and responses as the server hands them to a handler and writes them back.
#pragma once

#include <array>
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace p2p::http {

// The request headers a route may read; the parser keeps these and skips the others.
enum class Header {
  authorization,
  digest,
  expect,
  if_none_match,
  if_range,
  range,
  repr_digest,
  x_sha256,
  kCount
};

// ASCII case-insensitive equality with `lower`, which is lowercase.
bool iequals(std::string_view a, std::string_view lower);

// Which Header a field name is (case-insensitive); kCount when none we keep.
Header header_of(std::string_view field);

// The body of a streamed request (a PUT), read by the route while it arrives, never held
// whole by the server. The server answers "Expect: 100-continue" at the first read.
class BodyReader {
 public:
  virtual ~BodyReader() = default;
  // Reads the next bytes of the body into `into` (at least 4 KiB): how many; 0 at its
  // end; nullopt when the connection went, the body is malformed, or it stalled past the
  // idle timeout (the route then stores nothing).
  virtual asio::awaitable<std::optional<size_t>> read(std::span<char> into) = 0;
};

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // raw request target: "/buscar?archivo=x"
  std::string body;    // empty when streamed
  bool keep_alive = true;
  int http_minor = 1;
  // Content-Length when the request gave one (a chunked body has none).
  std::optional<uint64_t> content_length;
  // Set while the route may read a streamed body (PUT); null otherwise.
  BodyReader* body_reader = nullptr;
  asio::ip::tcp::endpoint local;   // where the request arrived
  asio::ip::tcp::endpoint remote;  // who sent it
  // The headers of Header (repeated ones joined with ", "); kept across requests to reuse
  // their memory.
  std::array<std::string, static_cast<size_t>(Header::kCount)> headers;

  std::string_view header(Header h) const { return headers[static_cast<size_t>(h)]; }
  std::string_view path() const;
  std::string_view query() const;  // after '?', without it; empty when none
};

// A response body that is a range of a file, sent from the file to the socket with sendfile
// (through the TLS stream on an HTTPS peer, a chunk at a time), never read whole into memory.
// It owns the descriptor. A file that shrinks under it ends the connection early (the
// client sees a short body), never a crash.
class FileBody {
 public:
  FileBody(int fd, uint64_t offset, uint64_t length) : fd_(fd), offset_(offset), length_(length) {}
  virtual ~FileBody();
  FileBody(const FileBody&) = delete;
  FileBody& operator=(const FileBody&) = delete;

  int fd() const { return fd_; }
  uint64_t offset() const { return offset_; }
  uint64_t length() const { return length_; }

  // Before each piece of at most `n` bytes is sent; may wait (a rate limit). False: stop
  // sending (the peer is shutting down), and the connection closes.
  virtual asio::awaitable<bool> pace(uint64_t n);
  // The largest piece pace() is asked for: the server sends at most this much at a time.
  virtual uint64_t piece() const { return 4 * 1024 * 1024; }
  // After each piece has gone out: its bytes.
  virtual void progressed(uint64_t n) { (void)n; }
  // Once, when the body is sent or the sending stopped: how many bytes went out.
  virtual void finished(uint64_t sent) { (void)sent; }

 private:
  int fd_;
  uint64_t offset_;
  uint64_t length_;
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
  // When set, the body (and `body` is unused): a range of a file.
  std::shared_ptr<FileBody> file_body;
  std::string_view content_type = "application/json";
  // More header lines, each "Name: value\r\n".
  std::string headers;
  bool close = false;  // close the connection after this response
};

std::string_view reason_phrase(int status);

// {"error": message} with the given status; the one shape of every error body.
Response json_error(int status, std::string_view message);

// Appends the serialised response (status line, headers, then the body unless omit_body
// or the body is shared or a file's: the caller sends those itself, right after) to out. A
// 304 has neither a body nor a Content-Length.
void serialize(const Response& r, const Request* req, bool omit_body, std::string& out);

}  // namespace p2p::http
