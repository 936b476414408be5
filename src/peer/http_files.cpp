#include "peer/http_files.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <ctime>
#include <memory>
#include <optional>
#include <vector>

#include "content/manifest.hpp"
#include "content/sha256.hpp"
#include "core/uri.hpp"
#include "http/file_response.hpp"
#include "io/chunk_pump.hpp"
#include "io/file_appender.hpp"
#include "transfer/status.hpp"
#include "transfer/transfer_log.hpp"

namespace p2p {
namespace {

using http::Header;
using Clock = std::chrono::steady_clock;

// Bytes of an upload's body read, hashed and written at a time.
constexpr size_t kUploadBuffer = 256 * 1024;

// The HTTP status that says what a transfer step's refusal means.
int http_status(const grpc::Status& s) {
  switch (s.error_code()) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::DATA_LOSS:
      return 400;
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
      return 409;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 413;  // the step that refuses for being busy is answered 503 by its caller
    case grpc::StatusCode::OUT_OF_RANGE:
      return 416;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    default:
      return 500;
  }
}

http::Response refusal(const grpc::Status& s) {
  return http::json_error(http_status(s), s.error_message());
}

// A file-system failure: a full disk is 507, the rest as a transfer would say.
http::Response fs_refusal(const FsFailure& f) {
  if (f.code == FsError::no_space) return http::json_error(507, f.why);
  return refusal(to_status(f));
}

http::Response busy(const grpc::Status& s) {
  auto r = http::json_error(503, s.error_message());
  r.headers = "Retry-After: 1\r\n";
  return r;
}

std::string client_of(const http::Request& req) {
  return "http:" + req.remote.address().to_string() + ":" + std::to_string(req.remote.port());
}

// NAME as the path carries it, decoded ('+' is a plus); the name validator sees the rest.
Result<std::string> decode_name(std::string_view encoded) {
  auto name = percent_decode_path(encoded);
  if (!name) return Problem{"invalid file name: " + name.error().why};
  return name;
}

// The validators of the file `st` describes: the sha256 as a strong ETag when the index has
// hashed exactly this version, else a weak one from its size and mtime.
struct Validators {
  std::string etag;
  std::string last_modified;
  // Last-Modified is a strong validator only for a file not modified within the last
  // second (RFC 9110 8.8.2.2): two versions within one second share it.
  bool date_is_strong = false;
};

Validators validators_of(const FileIndex& index, std::string_view name, const struct stat& st) {
  const FileStamp stamp = stamp_of(st);
  Validators v;
  v.last_modified = http::http_date(st.st_mtim.tv_sec);
  v.date_is_strong = st.st_mtim.tv_sec + 1 < std::time(nullptr);
  if (const auto e = index.find(name); e && e->manifest && e->stamp() == stamp) {
    v.etag = "\"" + to_hex(e->manifest->sha256) + "\"";
  } else {
    char buf[64];
    const int n = std::snprintf(buf, sizeof buf, "W/\"%llx-%llx\"",
                                static_cast<unsigned long long>(stamp.size),
                                static_cast<unsigned long long>(stamp.mtime_ns));
    v.etag.assign(buf, static_cast<size_t>(n));
  }
  return v;
}

// A download's bytes: the transfer slot it holds (released when the server drops the body),
// max_upload_rate, the stop at shutdown, and its log line and byte count.
class PacedFile final : public http::FileBody {
 public:
  PacedFile(FileService& files, metrics::Counter& sent, UniqueFd fd, uint64_t offset,
            uint64_t length, const std::string& what, const std::string& client)
      : FileBody(fd.release(), offset, length),
        files_(files),
        sent_(sent),
        log_("HTTP download", what, length, client, false) {}
  ~PacedFile() override { files_.active().fetch_sub(1); }

  asio::awaitable<bool> pace(uint64_t n) override {
    if (files_.aborting().load()) co_return false;
    TokenBucket& bucket = files_.upload_rate();
    if (bucket.rate() == 0) co_return true;
    const auto wait = bucket.reserve(n, Clock::now());
    if (wait <= Clock::duration::zero()) co_return true;
    files_.metrics().rate_limited_us.add(
        static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(wait).count()));
    // As gRPC's downloads wait: in slices, so that a stop is noticed within one.
    asio::steady_timer timer(co_await asio::this_coro::executor);
    co_return co_await pace_wait(timer, wait, [this] { return files_.aborting().load(); });
  }
  // Unlimited: large pieces (the server lets other connections run between them); limited:
  // a chunk at a time, as gRPC's downloads reserve.
  uint64_t piece() const override {
    return files_.upload_rate().rate() == 0 ? FileBody::piece() : files_.options().chunk_size;
  }
  void progressed(uint64_t n) override { sent_.add(n); }
  void finished(uint64_t sent) override {
    log_.finished(sent, sent == length() ? "OK" : "stopped: the connection or the file ended");
  }

 private:
  FileService& files_;
  metrics::Counter& sent_;
  TransferLog log_;
};

// The sha256 a PUT says its body has (X-Sha256: hex, Repr-Digest: sha-256=:b64:, or
// Digest: sha-256=b64); nullopt when it names none; a problem when one is malformed.
Result<std::optional<Sha256>> expected_digest(const http::Request& req) {
  if (const auto hex = req.header(Header::x_sha256); !hex.empty()) {
    if (auto d = sha256_from_hex(hex)) return std::optional<Sha256>(*d);
    return Problem{"X-Sha256 is not a SHA-256 (64 hex digits)"};
  }
  // Each is a list of algorithm=value; only sha-256 is known here.
  auto find = [](std::string_view list, bool colons) -> Result<std::optional<Sha256>> {
    std::optional<std::string_view> value;
    http::each_list_item(list, [&](std::string_view item) {
      const auto eq = item.find('=');
      if (!value && eq != std::string_view::npos && http::iequals(item.substr(0, eq), "sha-256"))
        value = item.substr(eq + 1);
    });
    if (!value) return std::optional<Sha256>();
    std::string_view v = *value;
    if (colons) {
      if (v.size() < 2 || v.front() != ':' || v.back() != ':')
        return Problem{"Repr-Digest's sha-256 is not :base64:"};
      v = v.substr(1, v.size() - 2);
    }
    if (auto d = sha256_from_base64(v)) return std::optional<Sha256>(*d);
    return Problem{"the sha-256 digest is not the base64 of a SHA-256"};
  };
  if (const auto repr = req.header(Header::repr_digest); !repr.empty()) {
    auto d = find(repr, true);
    if (!d || *d) return d;
  }
  if (const auto digest = req.header(Header::digest); !digest.empty()) return find(digest, false);
  return std::optional<Sha256>();
}

}  // namespace

http::Response HttpFiles::get(const http::Request& req, std::string_view encoded) {
  const auto name = decode_name(encoded);
  if (!name) return http::json_error(400, name.error().why);
  auto target = files_.open_download(*name);
  if (!target) {
    // The name as it came (percent-encoded): decoded, it could carry a line break.
    spdlog::info("HTTP download {} for {} refused: {}", encoded, client_of(req),
                 target.error().error_message());
    return refusal(target.error());
  }
  struct stat st {};
  if (::fstat(target->file.fd.get(), &st) != 0)
    return http::json_error(500, "cannot stat the file");
  const uint64_t size = target->file.size;
  const Validators v = validators_of(files_.index(), target->name, st);

  http::Response r;
  r.content_type = http::media_type(target->name);
  r.headers = "Date: " + http::http_date(std::time(nullptr)) +
              "\r\nAccept-Ranges: bytes\r\nETag: " + v.etag +
              "\r\nLast-Modified: " + v.last_modified +
              "\r\nContent-Disposition: " + http::attachment(target->name) +
              "\r\nCache-Control: no-cache\r\n";
  if (const auto inm = req.header(Header::if_none_match);
      !inm.empty() && http::none_match_matches(inm, v.etag)) {
    r.status = 304;
    return r;
  }
  // Range is for GET alone (RFC 9110 14.2): a HEAD describes the whole file.
  http::ByteRange range;
  if (req.method == "GET") range = http::parse_range(req.header(Header::range), size);
  if (const auto ir = req.header(Header::if_range);
      range.kind != http::ByteRange::whole && !ir.empty() &&
      !http::if_range_matches(ir, v.etag, v.date_is_strong ? v.last_modified : std::string()))
    range = {};  // the client's copy is not this version: it gets the whole file
  uint64_t offset = 0, length = size;
  switch (range.kind) {
    case http::ByteRange::unsatisfiable: {
      auto e = http::json_error(
          416, "the range asked is not within the file's " + std::to_string(size) + " bytes");
      e.headers = r.headers + "Content-Range: bytes */" + std::to_string(size) + "\r\n";
      return e;
    }
    case http::ByteRange::part:
      offset = range.first;
      length = range.length;
      r.status = 206;
      r.headers += "Content-Range: bytes " + std::to_string(offset) + "-" +
                   std::to_string(offset + length - 1) + "/" + std::to_string(size) + "\r\n";
      break;
    case http::ByteRange::whole:
      break;
  }
  if (req.method == "HEAD") {
    // The headers a GET would get; no transfer starts.
    r.file_body = std::make_shared<http::FileBody>(target->file.fd.release(), offset, length);
    return r;
  }
  if (auto admitted = files_.admit(); !admitted) return busy(admitted.error());
  const std::string what =
      range.kind == http::ByteRange::part
          ? target->name + " bytes " + std::to_string(offset) + "+" + std::to_string(length)
          : target->name;
  r.file_body = std::make_shared<PacedFile>(files_, sent_, std::move(target->file.fd), offset,
                                            length, what, client_of(req));
  return r;
}

asio::awaitable<http::Response> HttpFiles::put(http::Request& req, std::string_view encoded) {
  const auto name = decode_name(encoded);
  if (!name) co_return http::json_error(400, name.error().why);
  if (!files_.token_ok(req.header(Header::authorization))) {
    spdlog::warn("HTTP upload from {} refused: missing or wrong upload token", client_of(req));
    auto r = http::json_error(401, "this peer needs its upload token (Authorization: Bearer ...)");
    r.headers = "WWW-Authenticate: Bearer realm=\"p2p-share\"\r\n";
    co_return r;
  }
  // If-None-Match: * asks to create, never to replace (whatever allow_overwrite says).
  if (http::trim_ows(req.header(Header::if_none_match)) == "*" &&
      (files_.folder().exists(*name) || files_.index().find(*name)))
    co_return http::json_error(412, "'" + *name + "' exists (If-None-Match: *)");
  if (auto target = files_.admit_upload_target(*name); !target) co_return refusal(target.error());
  const auto expected = expected_digest(req);
  if (!expected) co_return http::json_error(400, expected.error().why);
  const uint64_t max = files_.options().max_upload_bytes;
  const auto too_large = [max] {
    return http::json_error(413, "upload is larger than this peer accepts (max_upload_bytes = " +
                                     std::to_string(max) + ")");
  };
  if (max != 0 && req.content_length && *req.content_length > max) co_return too_large();
  if (auto admitted = files_.admit(); !admitted) co_return busy(admitted.error());
  struct Release {
    std::atomic<size_t>& active;
    ~Release() { active.fetch_sub(1); }
  } release{files_.active()};
  if (files_.shutting_down()) co_return http::json_error(503, "peer is shutting down");

  auto created = files_.folder().create_temp();
  if (!created) co_return fs_refusal(created.error());
  TempFile temp = std::move(created).value();
  const uint64_t announced = req.content_length.value_or(0);
  const TransferLog log("HTTP upload", *name, announced, client_of(req));
  FileAppender out(co_await asio::this_coro::executor, temp.fd(), *name,
                   FileAppender::mode_for(announced));
  if (auto reserved = out.reserve(announced); !reserved) {
    log.finished(0, reserved.error().why);
    co_return fs_refusal(reserved.error());
  }
  ManifestBuilder manifest(files_.options().piece_size);
  std::vector<char> buf(kUploadBuffer);
  uint64_t size = 0;
  bool ended = req.body_reader == nullptr;  // an empty PUT: nothing to read
  while (!ended) {
    // Fill the buffer (or reach the end), then write it in one go.
    size_t filled = 0;
    while (filled < buf.size()) {
      const auto n = co_await req.body_reader->read(std::span(buf).subspan(filled));
      if (!n) {
        log.finished(size + filled, "cancelled: the body did not arrive whole");
        auto r = http::json_error(400, "the upload's body did not arrive whole; nothing stored");
        r.close = true;
        co_return r;
      }
      if (*n == 0) {
        ended = true;
        break;
      }
      filled += *n;
    }
    if (max != 0 && size + filled > max) {
      log.finished(size, "refused: over max_upload_bytes");
      co_return too_large();
    }
    if (filled == 0) break;
    if (auto written = co_await out.append(asio::buffer(buf.data(), filled)); !written) {
      log.finished(size, written.error().why);
      co_return fs_refusal(written.error());
    }
    manifest.update(buf.data(), filled);
    size += filled;
    received_.add(filled);
    files_.metrics().received_bytes.add(filled);
    if (files_.aborting().load()) {
      log.finished(size, "stopped: shutting down");
      auto r = http::json_error(503, "peer is shutting down; nothing stored");
      r.close = true;
      co_return r;
    }
  }
  if (auto written = co_await out.finish(); !written) {
    log.finished(size, written.error().why);
    co_return fs_refusal(written.error());
  }
  auto stored = files_.store_upload(
      temp, *name, size, std::make_shared<const Manifest>(manifest.finish()), *expected, log);
  if (!stored) {
    // Our own checks of the size came before: RESOURCE_EXHAUSTED here is the disk.
    if (stored.error().error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED)
      co_return http::json_error(507, stored.error().error_message());
    co_return refusal(stored.error());
  }
  http::Response r;
  r.status = 201;
  r.headers = "Location: /archivos/" + percent_encode_path(*name) + "\r\n";
  r.body = boost::json::serialize(
      boost::json::object{{"stored", *name}, {"size", size}, {"sha256", *stored}});
  co_return r;
}

void HttpFiles::write_metrics(metrics::Exposition& e) const {
  e.family("p2p_http_file_sent_bytes_total", "counter",
           "File bytes GET /archivos/ sent (whole files and ranges).");
  e.sample("p2p_http_file_sent_bytes_total", {}, sent_.value());
  e.family("p2p_http_file_received_bytes_total", "counter",
           "File bytes PUT /archivos/ received and wrote.");
  e.sample("p2p_http_file_received_bytes_total", {}, received_.value());
}

}  // namespace p2p
