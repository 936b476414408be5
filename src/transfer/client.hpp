// The gRPC client of transfer.FileService, shared by the p2p command and the bench:
// downloads (whole, ranged, or into a folder through a temporary file and a rename),
// manifests, and uploads from a file.
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>

#include "content/manifest.hpp"
#include "core/result.hpp"
#include "transfer.grpc.pb.h"

namespace p2p {

// (bytes done, total bytes or 0 when not known)
using ProgressFn = std::function<void(uint64_t, uint64_t)>;

struct TransferResult {
  grpc::Status status;
  uint64_t bytes = 0;
  std::filesystem::path path;  // where a download landed
};

class TransferClient {
 public:
  // address: "host:port" of a peer's gRPC server; `credentials` null: plaintext
  // (transfer/credentials.hpp makes TLS ones).
  explicit TransferClient(const std::string& address,
                          std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);

  // Downloads `name` into folder `out_dir`: a temporary file there, renamed to `name` at
  // the end, so a failed or cancelled download leaves nothing. Refuses to replace an
  // existing file unless `overwrite` (ALREADY_EXISTS).
  TransferResult download_to_folder(const std::string& name, const std::filesystem::path& out_dir,
                                    bool overwrite, const ProgressFn& progress = {});

  // Streams `name` into `sink` (false from the sink cancels the download). The sink is called
  // once per slice gRPC received, with a view of its memory valid during the call only.
  TransferResult download(const std::string& name,
                          const std::function<bool(std::string_view)>& sink,
                          const ProgressFn& progress = {});

  // Streams bytes [offset, offset + length) of `name` into `sink`; length 0: to the end.
  // Fewer bytes than the range holds (within the file) is DATA_LOSS. `stop` cancels this
  // call only, also when requested before it starts (a multi-source download stops one copy
  // of a piece that another holder delivered first).
  TransferResult download_range(const std::string& name, uint64_t offset, uint64_t length,
                                const std::function<bool(std::string_view)>& sink,
                                const ProgressFn& progress = {}, std::stop_token stop = {});

  // The peer's manifest of `name`, or of the content `sha256_hex` (both given: the peer's
  // `name` must have that content, else NOT_FOUND). An answer whose piece count does not fit
  // its size, or that names other content than was asked for, is refused (DATA_LOSS): the
  // pieces are what every download trusts.
  Result<Manifest, grpc::Status> manifest(const std::string& name,
                                          const std::string& sha256_hex = {});

  // Uploads the file at `path` under `name`. `name_only_first` sends the file name in a
  // message of its own first, as the Python original's client does.
  TransferResult upload(const std::filesystem::path& path, const std::string& name,
                        size_t chunk_size = 65536, bool name_only_first = false,
                        const ProgressFn& progress = {});

  // Waits until the peer answers the HTTP/2 handshake; UNAVAILABLE when it does not in
  // time (refused, unreachable, or accepting but hung).
  grpc::Status connect(std::chrono::milliseconds timeout);

  // Uploads `total` bytes produced by `read` (fills the buffer, returns the byte count,
  // 0 at the end, -1 with errno set on failure) under `name`.
  TransferResult upload_from(const std::function<ssize_t(char*, size_t)>& read, uint64_t total,
                             const std::string& name, size_t chunk_size = 65536,
                             bool name_only_first = false, const ProgressFn& progress = {});

  // The token uploads carry (the peer's upload_token); empty: none.
  void set_upload_token(std::string token) { upload_token_ = std::move(token); }

  // Cancels the transfer in progress, from any thread (a signal handler's thread, say).
  void cancel();

 private:
  // The Download RPC read as raw messages: each one's chunk goes to `sink` as the views
  // parse_download_frame finds in gRPC's receive slices, with no copy in between.
  TransferResult download_views(const std::string& name, uint64_t offset, uint64_t length,
                                const std::function<bool(std::span<const std::string_view>)>& sink,
                                const ProgressFn& progress, std::stop_token stop);

  grpc::ClientContext* begin(std::unique_ptr<grpc::ClientContext> ctx);
  void end();

  std::string address_;
  std::string upload_token_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<transfer::FileService::Stub> stub_;
  grpc::internal::RpcMethod download_method_;
  std::mutex mu_;
  std::unique_ptr<grpc::ClientContext> active_;
  bool cancelled_ = false;
};

}  // namespace p2p
