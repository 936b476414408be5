// transfer.FileService on the gRPC callback API. The reactors are thin glue: each RPC is a
// coroutine on the io_context (file I/O through io_uring) that calls StartWrite/StartRead/
// Finish on its reactor and waits for the matching On*Done.
#pragma once

#include <array>
#include <asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/config.hpp"
#include "core/metrics.hpp"
#include "core/token_bucket.hpp"
#include "index/file_index.hpp"
#include "io/shared_folder.hpp"
#include "transfer.grpc.pb.h"

namespace p2p {

struct TransferOptions {
  size_t chunk_size = 65536;
  uint64_t max_upload_bytes = 0;  // 0: only the disk limits it
  bool allow_overwrite = false;
  size_t max_transfers = 64;          // concurrent, both directions
  std::string upload_token;           // non-empty: Upload needs "authorization: Bearer <token>"
  uint64_t piece_size = 1024 * 1024;  // of the manifests uploads compute
  uint64_t max_upload_rate = 0;       // bytes/s sent by all downloads together; 0: unlimited
};

// Told the manifest of each stored upload, computed from the bytes as they arrived, before
// the file appears under its name (the hasher then never reads it).
using LearnedFn = std::function<void(const HashedFile&)>;

// What the transfers did: by method and gRPC status, bytes, durations (GET /metrics).
class TransferMetrics {
 public:
  enum Method { kDownload, kUpload };
  static constexpr int kCodes = 17;  // grpc::StatusCode 0..16

  void finished(Method m, grpc::StatusCode code);
  void observe_duration(Method m, std::chrono::steady_clock::duration d);
  metrics::Counter sent_bytes;       // chunks handed to gRPC by downloads
  metrics::Counter received_bytes;   // chunks written to disk by uploads
  metrics::Counter rate_limited_us;  // downloads waited for max_upload_rate

  void write(metrics::Exposition& e, size_t active) const;

 private:
  metrics::LazySlots<metrics::Counter, 2 * kCodes> finished_;
  std::array<metrics::DurationHistogram, 2> durations_{metrics::DurationHistogram(bounds()),
                                                       metrics::DurationHistogram(bounds())};
  static std::vector<uint64_t> bounds();
};

// Download is raw: its messages are built from the buffers the file was read into.
using FileServiceBase = transfer::FileService::WithRawCallbackMethod_Download<
    transfer::FileService::WithCallbackMethod_Upload<
        transfer::FileService::WithCallbackMethod_Manifest<transfer::FileService::Service>>>;

class TransferLog;

// A file a download reads: its name as stored, and the open file.
struct DownloadTarget {
  std::string name;
  OpenedFile file;
};

class FileService final : public FileServiceBase {
 public:
  FileService(asio::io_context& ctx, FileIndex& index, SharedFolder& folder,
              TransferOptions options, LearnedFn learned = {});

  // The request is a serialized DownloadRequest; the answer, DownloadResponse messages.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Download(grpc::CallbackServerContext* ctx,
                                                       const grpc::ByteBuffer* req) override;
  grpc::ServerReadReactor<transfer::UploadRequest>* Upload(grpc::CallbackServerContext* ctx,
                                                           transfer::UploadResponse* resp) override;
  // Answered from the index alone: no file is read.
  grpc::ServerUnaryReactor* Manifest(grpc::CallbackServerContext* ctx,
                                     const transfer::ManifestRequest* req,
                                     transfer::ManifestResponse* resp) override;

  // New transfers get UNAVAILABLE from now on.
  void set_shutting_down() { shutting_down_.store(true); }
  bool shutting_down() const { return shutting_down_.load(); }

  size_t active_transfers() const { return active_.load(); }

  // The grace period is over: transfers still running stop between two chunks and end
  // with UNAVAILABLE.
  void abort_transfers() { aborting_.store(true); }
  const std::atomic<bool>& aborting() const { return aborting_; }

  // The steps a download and an upload take, whichever protocol carries them (gRPC here,
  // HTTP's /archivos/ in peer/http_files):

  // Whether a new transfer may start (it is then counted in active(), and whoever runs it
  // must release it); else the status refusing it.
  Result<void, grpc::Status> admit();
  // Whether `authorization` ("Bearer TOKEN") carries the upload token, when one is set.
  bool token_ok(std::string_view authorization) const;
  // The file `requested` names for a download: admitted with download rules, resolved in
  // the index (case, spaces), opened (regular files only, never through a link).
  Result<DownloadTarget, grpc::Status> open_download(std::string_view requested) const;
  // Whether an upload may be stored under `name` (as sent): a valid name, free unless the
  // config allows overwriting.
  Result<void, grpc::Status> admit_upload_target(std::string_view name) const;
  // Puts an upload of `size` bytes in place under `name` if its content is what the sender
  // expected (DATA_LOSS otherwise, nothing stored), and tells the hasher and the index. The
  // stored file's sha256 in hex.
  Result<std::string, grpc::Status> store_upload(TempFile& temp, const std::string& name,
                                                 uint64_t size,
                                                 std::shared_ptr<const p2p::Manifest> manifest,
                                                 const std::optional<Sha256>& expected,
                                                 const TransferLog& log);

  asio::io_context& io() { return ctx_; }
  FileIndex& index() { return index_; }
  SharedFolder& folder() { return folder_; }
  const TransferOptions& options() const { return options_; }
  std::atomic<size_t>& active() { return active_; }
  TransferMetrics& metrics() { return metrics_; }
  const TransferMetrics& metrics() const { return metrics_; }
  // One bucket for every download stream: max_upload_rate bounds what the peer sends.
  TokenBucket& upload_rate() { return upload_rate_; }
  const LearnedFn& learned() const { return learned_; }

 private:
  // Whether an Upload carries the token the config asks for (always, when none is set).
  bool authorized(const grpc::CallbackServerContext* ctx) const;

  asio::io_context& ctx_;
  FileIndex& index_;
  SharedFolder& folder_;
  TransferOptions options_;
  LearnedFn learned_;
  TokenBucket upload_rate_;
  std::atomic<bool> shutting_down_{false};
  std::atomic<size_t> active_{0};
  std::atomic<bool> aborting_{false};
  TransferMetrics metrics_;
};

}  // namespace p2p
