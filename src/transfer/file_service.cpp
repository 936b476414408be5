#include "transfer/file_service.hpp"

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/random_access_file.hpp>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <span>

#include "content/manifest.hpp"
#include "content/sha256.hpp"
#include "core/names.hpp"
#include "io/chunk_pump.hpp"
#include "io/file_appender.hpp"
#include "io/receive_queue.hpp"
#include "transfer/download_frame.hpp"
#include "transfer/status.hpp"
#include "transfer/transfer_log.hpp"

namespace p2p {
namespace {

using transfer::DownloadRequest;
using transfer::ManifestRequest;
using transfer::ManifestResponse;
using transfer::UploadRequest;
using transfer::UploadResponse;
using Clock = std::chrono::steady_clock;
// A step of a transfer: its value, or the status the call ends with.
template <class T>
using StatusOr = Result<T, grpc::Status>;

// Messages received ahead per upload, written to the file in batches.
constexpr int kUploadBuffers = 4;

// A bug or an exhausted machine, reported to the peer and the log instead of leaving the
// call unfinished forever.
grpc::Status internal_error(const char* op, const std::exception& e) {
  spdlog::error("{} failed: {}", op, e.what());
  return {grpc::StatusCode::INTERNAL, std::string("internal error: ") + e.what()};
}

// Runs a transfer to its status and finishes the call with it, exactly once, whatever is
// thrown. The reactor may be gone as soon as Finish returns.
template <class Reactor>
asio::awaitable<void> finish_with(Reactor* reactor, asio::awaitable<grpc::Status> transfer,
                                  TransferMetrics::Method method, TransferMetrics& metrics) {
  const auto start = Clock::now();
  grpc::Status status;
  try {
    status = co_await std::move(transfer);
  } catch (const std::exception& e) {
    status = internal_error(method == TransferMetrics::kDownload ? "Download" : "Upload", e);
  }
  metrics.finished(method, status.error_code());
  metrics.observe_duration(method, Clock::now() - start);
  reactor->Finish(status);
}

grpc::Status unavailable() {
  return {grpc::StatusCode::UNAVAILABLE, "peer is shutting down; try another peer"};
}

grpc::Status invalid_name(const NameProblem& p) {
  return {grpc::StatusCode::INVALID_ARGUMENT, "invalid file name: " + p.why};
}

// A download of one of our temporaries is told there is no such file, not that it may not
// see it.
grpc::Status download_name_refused(const NameProblem& p) {
  if (p.kind == NameProblem::hidden) return {grpc::StatusCode::NOT_FOUND, p.why};
  return invalid_name(p);
}

// The name as stored: the index resolves case and surrounding spaces; a file the watcher
// has not seen yet is still found under its exact name.
std::string stored_name(FileIndex& index, std::string_view requested) {
  if (auto e = index.find(requested)) return e->name;
  return std::string(requested);
}

// Chunks read ahead per download: clamp(1 MiB / chunk_size, 8, 16) buffers, so 1 MiB at
// the default 64 KiB, 16 KiB at 1 KiB, 16 MiB at 2 MiB. With 8 x 64 KiB the reader waited
// for buffers gRPC still held often enough to let the sender run dry, and each restart
// wrote to the socket on the io_context: 256 MiB downloads were about 13% slower
// (docs/performance.md, the fifth pass).
constexpr int kMaxDownloadBuffers = 16;
constexpr int kMinDownloadBuffers = 8;
constexpr size_t kReadAheadBytes = 1 << 20;
int download_buffers(size_t chunk_size) {
  return static_cast<int>(
      std::clamp<size_t>(kReadAheadBytes / chunk_size, kMinDownloadBuffers, kMaxDownloadBuffers));
}

// The read-ahead buffers of one download, shared by its reactor and by every slice gRPC
// still holds over one of them: a buffer returns to the queue when gRPC drops its slice
// (possibly after the reactor is gone), never earlier.
struct DownloadBuffers {
  DownloadBuffers(asio::any_io_executor ex, size_t chunk_size)
      : queue(std::move(ex), download_buffers(chunk_size), chunk_size) {}

  // A slice over buffer i's filled bytes, keeping these buffers alive until gRPC drops it.
  static grpc::Slice wrap(const std::shared_ptr<DownloadBuffers>& self, int i) {
    self->held[i] = self;
    const std::span<char> bytes = self->queue.filled(i);
    // Published before gRPC has the slice: see let_go.
    handed_.fetch_add(1, std::memory_order_release);
    return grpc::Slice(bytes.data(), bytes.size(), &let_go, &self->held[i]);
  }

  ChunkQueue queue;
  std::array<std::shared_ptr<DownloadBuffers>, kMaxDownloadBuffers> held;

 private:
  // gRPC drops a slice on whichever of its threads sent it, having handed it over through
  // its own synchronisation. This acquire pairs with wrap's release, so what the buffers
  // rely on (the slot, the queue) is ordered by our code, not only by gRPC's internals
  // (which ThreadSanitizer cannot see: Debian's gRPC is not built with it).
  static inline std::atomic<uint64_t> handed_{0};
  static void let_go(void* slot) {
    handed_.load(std::memory_order_acquire);
    auto* held = static_cast<std::shared_ptr<DownloadBuffers>*>(slot);
    const std::shared_ptr<DownloadBuffers> self = std::move(*held);
    self->queue.release(static_cast<int>(held - self->held.data()));
  }
};

// The raw request as a DownloadRequest; a malformed one is INVALID_ARGUMENT.
StatusOr<DownloadRequest> parse_download_request(const grpc::ByteBuffer& raw) {
  grpc::ByteBuffer copy(raw);  // Deserialize consumes its buffer; this copy shares the slices
  DownloadRequest req;
  if (!grpc::SerializationTraits<DownloadRequest>::Deserialize(&copy, &req).ok())
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "malformed DownloadRequest: not a transfer.DownloadRequest message");
  return req;
}

// Sends raw messages (a header slice and a slice over the buffer the chunk was read into),
// so that no chunk is copied in user space; the request arrives raw too.
class DownloadReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  DownloadReactor(FileService& svc, grpc::CallbackServerContext* ctx, StatusOr<DownloadRequest> req)
      : svc_(svc),
        peer_(ctx->peer()),
        req_(std::move(req)),
        bufs_(std::make_shared<DownloadBuffers>(svc.io().get_executor(), svc.options().chunk_size)),
        batch_(svc.upload_rate().rate() == 0) {
    asio::co_spawn(svc_.io(), finish_with(this, send(), TransferMetrics::kDownload, svc_.metrics()),
                   asio::detached);
  }

  void OnWriteDone(bool ok) override {
    // Our reference to the slices goes; gRPC's own, if it still holds them, frees the buffer.
    out_.Clear();
    if (const int next = bufs_->queue.sent(ok); next >= 0) start_send(next);
  }
  void OnDone() override {
    svc_.active().fetch_sub(1);
    delete this;
  }

  // ChunkSink
  void start_send(int i) {
    const size_t n = bufs_->queue.filled(i).size();
    std::array<uint8_t, 22> header;
    const size_t header_size = download_frame_header(n, started_ == 0 ? size_ : 0, header);
    started_ += n;
    grpc::Slice parts[2] = {grpc::Slice(header.data(), header_size),
                            DownloadBuffers::wrap(bufs_, i)};
    out_ = grpc::ByteBuffer(parts, 2);
    svc_.metrics().sent_bytes.add(n);
    grpc::WriteOptions options;
    // Batched into fewer, larger socket writes while more follows; every half of the
    // buffers a write goes out unhinted, or gRPC would sit on all of them waiting for more.
    if (batch_ && started_ < length_ && ++hinted_ < bufs_->queue.buffers() / 2)
      options.set_buffer_hint();
    else
      hinted_ = 0;
    StartWrite(&out_, options);
  }

 private:
  // Streams the file; the status to finish with.
  asio::awaitable<grpc::Status> send() {
    if (!req_) co_return req_.error();
    const DownloadRequest& req = *req_;
    if (svc_.shutting_down()) {
      co_return unavailable();
    }
    auto target = svc_.open_download(req.filename());
    if (!target) {
      spdlog::info("Download {} for {} refused: {}", req.filename(), peer_,
                   target.error().error_message());
      co_return target.error();
    }
    const std::string& name = target->name;
    OpenedFile& file = target->file;
    const uint64_t size = size_ = file.size;
    const uint64_t offset = req.offset();
    if (offset > size) {
      spdlog::info("Download {} for {} refused: offset {} beyond its {} bytes", name, peer_, offset,
                   size);
      co_return grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                             "offset " + std::to_string(offset) + " is beyond the end of '" + name +
                                 "' (" + std::to_string(size) + " bytes)");
    }
    // A range reaching past the end is clipped to it, not refused: the client learns the
    // file's size from total_size and can tell a short range from a lost byte.
    const uint64_t length = length_ =
        req.length() == 0 ? size - offset : std::min(req.length(), size - offset);
    asio::random_access_file reader(svc_.io(), file.fd.release());

    const bool ranged = offset != 0 || length != size;
    const TransferLog log(
        "Download",
        ranged ? name + " bytes " + std::to_string(offset) + "+" + std::to_string(length) : name,
        length, peer_);
    TokenBucket* pace = batch_ ? nullptr : &svc_.upload_rate();
    // Before any write: a buffer hint on the first one would hold back the initial metadata,
    // and the stream with it (grpc/grpc#34231). A refusal above stays a trailers-only answer.
    StartSendInitialMetadata();
    const auto outcome = co_await pump_file(reader, offset, length, svc_.options().chunk_size,
                                            bufs_->queue, *this, svc_.aborting(), pace);
    svc_.metrics().rate_limited_us.add(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(outcome.paced).count()));
    grpc::Status status;
    switch (outcome.result) {
      case PumpResult::done:
        break;
      case PumpResult::cancelled:
        status = svc_.aborting().load() ? unavailable()
                                        : grpc::Status(grpc::StatusCode::CANCELLED,
                                                       "download cancelled by the receiver");
        break;
      case PumpResult::read_error:
        status = {grpc::StatusCode::ABORTED, outcome.message};
        break;
    }
    log.finished(outcome.bytes, status.ok() ? "OK" : status.error_message());
    co_return status;
  }

  FileService& svc_;
  const std::string peer_;
  const StatusOr<DownloadRequest> req_;  // or why it could not be parsed
  const std::shared_ptr<DownloadBuffers> bufs_;
  const bool batch_;      // no rate limit: writes may be batched
  grpc::ByteBuffer out_;  // the message being written (one at a time)
  uint64_t size_ = 0;     // the file's, sent in the first message
  uint64_t length_ = 0;   // of the range sent
  uint64_t started_ = 0;  // bytes handed to gRPC so far
  int hinted_ = 0;        // writes buffered since the last unhinted one
};

class UploadReactor final : public grpc::ServerReadReactor<UploadRequest> {
 public:
  UploadReactor(FileService& svc, grpc::CallbackServerContext* ctx, UploadResponse* resp)
      : svc_(svc),
        ctx_(ctx),
        peer_(ctx->peer()),
        resp_(resp),
        queue_(svc.io().get_executor(), kUploadBuffers),
        pieces_(svc.options().piece_size, ManifestBuilder::PiecesOnly{}) {
    asio::co_spawn(svc_.io(),
                   finish_with(this, receive(), TransferMetrics::kUpload, svc_.metrics()),
                   asio::detached);
  }

  void OnReadDone(bool ok) override {
    // The whole-file digest is taken here, on gRPC's thread, as each message arrives in
    // order, and the pieces' on the io_context: the two SHA-256 passes run on two cores
    // instead of one after the other beside the writes. Before the buffer is handed on:
    // once the writer has it, it may be read into again.
    // An upload announced as one piece is hashed once, with its piece.
    if (ok && first_read_) one_piece_ = announced_one_piece(msg_[reading_]);
    first_read_ = false;
    if (ok && !one_piece_) whole_.update(msg_[reading_].chunk());
    if (const int next = queue_.received(ok); next >= 0) read_into(next);
  }
  void OnCancel() override { cancelled_.store(true); }
  void OnDone() override {
    svc_.active().fetch_sub(1);
    delete this;
  }

 private:
  bool cancelled() const { return cancelled_.load() || ctx_->IsCancelled(); }

  bool announced_one_piece(const UploadRequest& first) const {
    return first.total_size() != 0 && first.total_size() <= svc_.options().piece_size;
  }

  // At most one read is in flight (the queue hands out one buffer at a time), so reading_
  // (and first_read_, one_piece_) is never written by two threads at once.
  void read_into(int i) {
    reading_ = i;
    StartRead(&msg_[i]);
  }

  // Receives the whole upload; the temporary file is removed on every path but success.
  asio::awaitable<grpc::Status> receive() {
    if (svc_.shutting_down()) co_return unavailable();
    read_into(queue_.start());
    std::vector<int> batch = co_await queue_.take();
    if (batch.empty()) co_return nothing_received();
    name_ = msg_[batch.front()].filename();
    announced_ = msg_[batch.front()].total_size();
    if (auto admitted = svc_.admit_upload_target(name_); !admitted) co_return admitted.error();
    auto digest = expected_digest(msg_[batch.front()].sha256());
    if (!digest) co_return digest.error();
    expected_ = *digest;
    auto created = svc_.folder().create_temp();
    if (!created) co_return to_status(created.error());
    TempFile temp = std::move(created).value();
    const TransferLog log("Upload", name_, 0, peer_);
    const auto received = co_await write_all(temp, std::move(batch), log);
    if (!received) co_return received.error();
    co_return store(temp, *received, log);
  }

  // The stream ended before its first message: the sender went away, or sent nothing.
  grpc::Status nothing_received() const {
    if (cancelled()) return {grpc::StatusCode::CANCELLED, "upload cancelled"};
    return {grpc::StatusCode::INVALID_ARGUMENT,
            "empty upload: the first message must carry the file name"};
  }

  // The sha256 the sender expects, if it names one (64 hex digits).
  StatusOr<std::optional<Sha256>> expected_digest(const std::string& hex) const {
    if (hex.empty()) return std::optional<Sha256>();
    if (auto d = sha256_from_hex(hex)) return std::optional<Sha256>(*d);
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "sha256 '" + hex + "' is not a SHA-256 (64 hex digits)");
  }

  // Writes each batch of chunks at its offset until the stream ends; the bytes received,
  // or the status to end with (already logged).
  asio::awaitable<StatusOr<uint64_t>> write_all(TempFile& temp, std::vector<int> batch,
                                                const TransferLog& log) {
    // An announced size over max_upload_bytes is refused before anything is set aside.
    if (auto within = check_size(0, announced_, log); !within) co_return within.error();
    FileAppender out(svc_.io().get_executor(), temp.fd(), name_,
                     FileAppender::mode_for(announced_));
    if (auto reserved = out.reserve(announced_); !reserved) {
      log.finished(0, reserved.error().why);
      co_return to_status(reserved.error());
    }
    uint64_t offset = 0;
    while (!batch.empty()) {
      const uint64_t bytes = batch_bytes(batch);
      if (auto within = check_size(offset, offset + bytes, log); !within) co_return within.error();
      if (auto written = co_await write_batch(out, batch); !written) {
        log.finished(offset, written.error().why);
        co_return to_status(written.error());
      }
      // Hashed as it arrives, so that the stored file is never read again to be hashed.
      for (int i : batch) pieces_.update(msg_[i].chunk());
      offset += bytes;
      svc_.metrics().received_bytes.add(bytes);
      if (svc_.aborting().load()) {
        log.finished(offset, "stopped: shutting down");
        co_return unavailable();
      }
      if (const int next = queue_.release(batch); next >= 0) read_into(next);
      batch = co_await queue_.take();
    }
    if (auto written = co_await out.finish(); !written) {
      log.finished(offset, written.error().why);
      co_return to_status(written.error());
    }
    // The end of the stream looks the same whether the sender finished or went away (its
    // OnCancel may come later): only an announced size tells them apart for sure.
    if (cancelled() || (announced_ != 0 && offset != announced_)) {
      log.finished(offset, "cancelled");
      co_return grpc::Status(grpc::StatusCode::CANCELLED,
                             "upload ended after " + std::to_string(offset) + " of " +
                                 std::to_string(announced_) + " bytes; nothing stored");
    }
    co_return offset;
  }

  uint64_t batch_bytes(const std::vector<int>& batch) const {
    uint64_t bytes = 0;
    for (int i : batch) bytes += msg_[i].chunk().size();
    return bytes;
  }

  // Growing from `offset` to `end` bytes must stay within the announced size and
  // max_upload_bytes.
  StatusOr<void> check_size(uint64_t offset, uint64_t end, const TransferLog& log) const {
    if (announced_ != 0 && end > announced_) {
      log.finished(offset, "refused: more bytes than announced");
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "the upload carries more than its announced total_size");
    }
    const uint64_t max = svc_.options().max_upload_bytes;
    if (max != 0 && end > max) {
      log.finished(offset, "refused: over max_upload_bytes");
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          "upload is larger than this peer accepts (max_upload_bytes = " +
                              std::to_string(max) + ")");
    }
    return {};
  }

  // Everything that arrived since the last write goes to the file in one go.
  asio::awaitable<FsResult<void>> write_batch(FileAppender& out, const std::vector<int>& batch) {
    chunks_.clear();
    for (int i : batch)
      if (const std::string& c = msg_[i].chunk(); !c.empty()) chunks_.push_back(asio::buffer(c));
    if (chunks_.empty()) co_return FsResult<void>{};
    co_return co_await out.append(chunks_);
  }

  // Puts the file in place under its name, if its content is what the sender expected.
  grpc::Status store(TempFile& temp, uint64_t size, const TransferLog& log) {
    // The stream has ended: OnReadDone will not touch whole_ again.
    auto manifest = std::make_shared<const p2p::Manifest>(
        one_piece_ ? pieces_.finish() : pieces_.finish(whole_.finish()));
    auto stored = svc_.store_upload(temp, name_, size, std::move(manifest), expected_, log);
    if (!stored) return stored.error();
    resp_->set_ok(true);
    resp_->set_message("stored " + name_ + " (" + std::to_string(size) + " bytes)");
    resp_->set_sha256(*stored);
    return grpc::Status::OK;
  }

  FileService& svc_;
  grpc::CallbackServerContext* ctx_;
  const std::string peer_;
  UploadResponse* resp_;
  ReceiveQueue queue_;
  std::atomic<bool> cancelled_{false};
  UploadRequest msg_[kUploadBuffers];
  std::string name_;                // from the first message
  uint64_t announced_ = 0;          // its total_size; 0: not announced
  std::optional<Sha256> expected_;  // its sha256, if it named one
  int reading_ = -1;                // the buffer the read in flight fills
  bool first_read_ = true;
  bool one_piece_ = false;  // announced within one piece: whole_ is not fed
  Sha256Hasher whole_;
  ManifestBuilder pieces_;
  std::vector<asio::const_buffer> chunks_;
};

// The manifest `req` names, from the index snapshot alone. By name, the file's content must
// be the sha256 asked for too, if one is: an answer is about the file a client then
// downloads by that name.
grpc::Status find_manifest(const IndexSnapshot& snap, const ManifestRequest& req,
                           ManifestResponse& resp) {
  std::optional<Sha256> wanted;
  if (!req.sha256().empty() && !(wanted = sha256_from_hex(req.sha256())))
    return {grpc::StatusCode::INVALID_ARGUMENT,
            "sha256 '" + req.sha256() + "' is not a SHA-256 (64 hex digits)"};
  const FileEntry* e = nullptr;
  if (!req.filename().empty()) {
    const auto name = admit_name(req.filename(), NameUse::serve);
    if (!name) return download_name_refused(name.error());
    if (!(e = snap.find(*name)))
      return {grpc::StatusCode::NOT_FOUND, "no such file: '" + *name + "'"};
    if (!e->manifest)
      return {grpc::StatusCode::UNAVAILABLE,
              "'" + e->name + "' is still being hashed; ask again shortly"};
    if (wanted && e->manifest->sha256 != *wanted)
      return {grpc::StatusCode::NOT_FOUND, "'" + e->name + "' here has sha256 " +
                                               to_hex(e->manifest->sha256) + ", not " +
                                               req.sha256()};
  } else if (wanted) {
    if (!(e = snap.find_sha256(*wanted)))
      return {grpc::StatusCode::NOT_FOUND,
              "no file with sha256 " + to_hex(*wanted) +
                  (snap.unhashed
                       ? " (" + std::to_string(snap.unhashed) + " files are still being hashed)"
                       : std::string())};
  } else {
    return {grpc::StatusCode::INVALID_ARGUMENT, "give a filename or a sha256"};
  }
  const p2p::Manifest& m = *e->manifest;
  resp.set_filename(e->name);
  resp.set_size(m.size);
  resp.set_sha256(to_hex(m.sha256));
  resp.set_piece_size(m.piece_size);
  for (const Sha256& p : m.pieces) resp.add_pieces(p.data(), p.size());
  return grpc::Status::OK;
}

// Answers at once with an error, for requests refused before any work starts.
template <class Base>
class RefusedReactor final : public Base {
 public:
  explicit RefusedReactor(grpc::Status s) { this->Finish(std::move(s)); }
  void OnDone() override { delete this; }
};

}  // namespace

FileService::FileService(asio::io_context& ctx, FileIndex& index, SharedFolder& folder,
                         TransferOptions options, LearnedFn learned)
    : ctx_(ctx),
      index_(index),
      folder_(folder),
      options_(std::move(options)),
      learned_(std::move(learned)),
      upload_rate_(options_.max_upload_rate) {}

Result<DownloadTarget, grpc::Status> FileService::open_download(std::string_view requested) const {
  const auto wanted = admit_name(requested, NameUse::serve);
  if (!wanted) return download_name_refused(wanted.error());
  std::string name = stored_name(index_, *wanted);
  auto opened = folder_.open_read(name);
  if (!opened) return to_status(opened.error());
  return DownloadTarget{std::move(name), std::move(opened).value()};
}

Result<void, grpc::Status> FileService::admit_upload_target(std::string_view name) const {
  if (auto admitted = admit_name(name, NameUse::upload); !admitted)
    return invalid_name(admitted.error());
  if (options_.allow_overwrite) return {};
  // Taken when the folder holds the name, or the name as stored under another case; a file
  // the index still lists but that was just deleted (the watcher has not caught up) is not.
  const std::string stored = stored_name(index_, name);
  if (folder_.exists(stored) || (stored != name && folder_.exists(name)))
    return grpc::Status(grpc::StatusCode::ALREADY_EXISTS,
                        "'" + std::string(name) + "' already exists on this peer");
  return {};
}

Result<std::string, grpc::Status> FileService::store_upload(
    TempFile& temp, const std::string& name, uint64_t size,
    std::shared_ptr<const p2p::Manifest> manifest, const std::optional<Sha256>& expected,
    const TransferLog& log) {
  const std::string got = to_hex(manifest->sha256);
  if (expected && manifest->sha256 != *expected) {
    log.finished(size, "refused: its sha256 is " + got + ", not " + to_hex(*expected));
    return grpc::Status(grpc::StatusCode::DATA_LOSS, "the upload's content has sha256 " + got +
                                                         ", not the expected " + to_hex(*expected) +
                                                         "; nothing stored");
  }
  const auto stamp = temp.stamp();
  if (!stamp) {
    log.finished(size, stamp.error().why);
    return to_status(stamp.error());
  }
  // Before the rename: the watcher may see the file under its name at once, and the hasher
  // must find its manifest known by then.
  const HashedFile hashed{name, *stamp, std::move(manifest)};
  if (learned_) learned_(hashed);
  if (auto committed = temp.commit(name, options_.allow_overwrite); !committed) {
    log.finished(size, committed.error().why);
    return to_status(committed.error());
  }
  index_.refresh(name);
  // Listed with its manifest before the uploader hears OK, not once the hasher's thread (at
  // nice 10) gets round to it: a download right after the upload is verified.
  index_.set_manifests({hashed});
  log.finished(size, "OK, sha256 " + got);
  return got;
}

Result<void, grpc::Status> FileService::admit() {
  if (shutting_down()) return unavailable();
  // Counted here, released by the reactor's OnDone.
  if (active_.fetch_add(1) >= options_.max_transfers) {
    active_.fetch_sub(1);
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        "this peer is busy with " + std::to_string(options_.max_transfers) +
                            " transfers (max_transfers); try again later");
  }
  return {};
}

std::vector<uint64_t> TransferMetrics::bounds() {
  // 1 ms to 10 min, in microseconds.
  return {1000,    5000,     10000,    50000,    100000,    500000,   1000000,
          5000000, 10000000, 30000000, 60000000, 300000000, 600000000};
}

void TransferMetrics::finished(Method m, grpc::StatusCode code) {
  const int c = code >= 0 && code < kCodes ? code : grpc::StatusCode::UNKNOWN;
  finished_.at(m * kCodes + c, [] { return std::make_unique<metrics::Counter>(); }).add();
}

void TransferMetrics::observe_duration(Method m, Clock::duration d) { durations_[m].record(d); }

void TransferMetrics::write(metrics::Exposition& e, size_t active) const {
  static constexpr std::array<const char*, kCodes> codes{"OK",
                                                         "CANCELLED",
                                                         "UNKNOWN",
                                                         "INVALID_ARGUMENT",
                                                         "DEADLINE_EXCEEDED",
                                                         "NOT_FOUND",
                                                         "ALREADY_EXISTS",
                                                         "PERMISSION_DENIED",
                                                         "RESOURCE_EXHAUSTED",
                                                         "FAILED_PRECONDITION",
                                                         "ABORTED",
                                                         "OUT_OF_RANGE",
                                                         "UNIMPLEMENTED",
                                                         "INTERNAL",
                                                         "UNAVAILABLE",
                                                         "DATA_LOSS",
                                                         "UNAUTHENTICATED"};
  static constexpr std::array<const char*, 2> methods{"Download", "Upload"};
  e.family("p2p_grpc_transfers_total", "counter",
           "gRPC transfers finished (refusals included), by method and status code.");
  for (int m = 0; m < 2; ++m)
    for (int c = 0; c < kCodes; ++c)
      if (const auto* n = finished_.get(m * kCodes + c))
        e.sample("p2p_grpc_transfers_total", {{"method", methods[m]}, {"code", codes[c]}},
                 n->value());
  e.family("p2p_grpc_transfer_duration_seconds", "histogram",
           "Duration of the transfers that started, by method.");
  for (int m = 0; m < 2; ++m)
    e.histogram("p2p_grpc_transfer_duration_seconds", {{"method", methods[m]}}, durations_[m]);
  e.family("p2p_grpc_sent_bytes_total", "counter",
           "File bytes downloads handed to gRPC to send (a cancelled stream may not deliver its "
           "last ones).");
  e.sample("p2p_grpc_sent_bytes_total", {}, sent_bytes.value());
  e.family("p2p_grpc_received_bytes_total", "counter", "File bytes received by uploads.");
  e.sample("p2p_grpc_received_bytes_total", {}, received_bytes.value());
  e.family("p2p_grpc_upload_rate_limited_seconds_total", "counter",
           "Time downloads waited to keep what this peer sends within max_upload_rate (summed "
           "over the streams).");
  e.sample("p2p_grpc_upload_rate_limited_seconds_total", {},
           static_cast<double>(rate_limited_us.value()) / 1e6);
  e.family("p2p_grpc_transfers_active", "gauge", "Transfers in progress.");
  e.sample("p2p_grpc_transfers_active", {}, static_cast<uint64_t>(active));
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* FileService::Download(grpc::CallbackServerContext* ctx,
                                                                  const grpc::ByteBuffer* req) {
  if (auto admitted = admit(); !admitted) {
    metrics_.finished(TransferMetrics::kDownload, admitted.error().error_code());
    return new RefusedReactor<grpc::ServerWriteReactor<grpc::ByteBuffer>>(admitted.error());
  }
  return new DownloadReactor(*this, ctx, parse_download_request(*req));
}

grpc::ServerUnaryReactor* FileService::Manifest(grpc::CallbackServerContext* ctx,
                                                const ManifestRequest* req,
                                                ManifestResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  // The snapshot stays alive while find_manifest reads its entry.
  const auto snap = index_.snapshot();
  reactor->Finish(shutting_down() ? unavailable() : find_manifest(*snap, *req, *resp));
  return reactor;
}

bool FileService::authorized(const grpc::CallbackServerContext* ctx) const {
  if (options_.upload_token.empty()) return true;
  const auto& md = ctx->client_metadata();
  const auto it = md.find("authorization");
  if (it == md.end()) return false;
  return token_ok(std::string_view(it->second.data(), it->second.size()));
}

bool FileService::token_ok(std::string_view given) const {
  if (options_.upload_token.empty()) return true;
  const std::string expected = "Bearer " + options_.upload_token;
  // Compared in full whatever the first difference, so timing tells nothing.
  unsigned diff = given.size() ^ expected.size();
  for (size_t i = 0; i < expected.size(); ++i)
    diff |= static_cast<unsigned char>(expected[i]) ^
            static_cast<unsigned char>(i < given.size() ? given[i] : 0);
  return diff == 0;
}

grpc::ServerReadReactor<UploadRequest>* FileService::Upload(grpc::CallbackServerContext* ctx,
                                                            UploadResponse* resp) {
  if (!authorized(ctx)) {
    spdlog::warn("Upload from {} refused: missing or wrong upload token", ctx->peer());
    metrics_.finished(TransferMetrics::kUpload, grpc::StatusCode::UNAUTHENTICATED);
    return new RefusedReactor<grpc::ServerReadReactor<UploadRequest>>(
        grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                     "this peer needs its upload token (metadata authorization: Bearer ...)"));
  }
  if (auto admitted = admit(); !admitted) {
    metrics_.finished(TransferMetrics::kUpload, admitted.error().error_code());
    return new RefusedReactor<grpc::ServerReadReactor<UploadRequest>>(admitted.error());
  }
  return new UploadReactor(*this, ctx, resp);
}

}  // namespace p2p
