#include "transfer/client.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include "core/names.hpp"
#include "core/write_all.hpp"
#include "io/shared_folder.hpp"
#include "transfer/download_frame.hpp"
#include "transfer/status.hpp"

namespace p2p {
namespace {

grpc::Status local_error(grpc::StatusCode code, const std::string& msg) { return {code, msg}; }

std::shared_ptr<grpc::Channel> make_channel(const std::string& address,
                                            std::shared_ptr<grpc::ChannelCredentials> credentials) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  args.SetMaxSendMessageSize(64 * 1024 * 1024);
  // A peer that stops answering mid-transfer (hung, or its network gone) is noticed by
  // keepalive pings instead of hanging the transfer forever.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  return grpc::CreateCustomChannel(
      address, credentials ? std::move(credentials) : grpc::InsecureChannelCredentials(), args);
}

}  // namespace

TransferClient::TransferClient(const std::string& address,
                               std::shared_ptr<grpc::ChannelCredentials> credentials)
    : address_(address),
      channel_(make_channel(address, std::move(credentials))),
      stub_(transfer::FileService::NewStub(channel_)),
      // The generated stub's own method, but read as ByteBuffers instead of parsed messages.
      download_method_("/transfer.FileService/Download",
                       grpc::internal::RpcMethod::SERVER_STREAMING, channel_) {}

grpc::Status TransferClient::connect(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::system_clock::now() + timeout;
  auto state = channel_->GetState(true);
  while (state != GRPC_CHANNEL_READY) {
    // A refused or unreachable address fails at once; a hung one runs out the timeout.
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE || state == GRPC_CHANNEL_SHUTDOWN)
      return {grpc::StatusCode::UNAVAILABLE, "cannot connect to " + address_};
    if (!channel_->WaitForStateChange(state, deadline))
      return {grpc::StatusCode::UNAVAILABLE,
              "no answer from " + address_ + " within " + std::to_string(timeout.count()) + " ms"};
    state = channel_->GetState(true);
  }
  return grpc::Status::OK;
}

grpc::ClientContext* TransferClient::begin(std::unique_ptr<grpc::ClientContext> ctx) {
  std::lock_guard lock(mu_);
  active_ = std::move(ctx);
  if (cancelled_) active_->TryCancel();
  return active_.get();
}

void TransferClient::end() {
  std::lock_guard lock(mu_);
  active_.reset();
}

void TransferClient::cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  if (active_) active_->TryCancel();
}

TransferResult TransferClient::download(const std::string& name,
                                        const std::function<bool(std::string_view)>& sink,
                                        const ProgressFn& progress) {
  return download_range(name, 0, 0, sink, progress);
}

TransferResult TransferClient::download_range(const std::string& name, uint64_t offset,
                                              uint64_t length,
                                              const std::function<bool(std::string_view)>& sink,
                                              const ProgressFn& progress, std::stop_token stop) {
  return download_views(
      name, offset, length,
      [&](std::span<const std::string_view> views) {
        for (std::string_view v : views)
          if (!sink(v)) return false;
        return true;
      },
      progress, stop);
}

TransferResult TransferClient::download_views(
    const std::string& name, uint64_t offset, uint64_t length,
    const std::function<bool(std::span<const std::string_view>)>& sink, const ProgressFn& progress,
    std::stop_token stop) {
  TransferResult result;
  auto* ctx = begin(std::make_unique<grpc::ClientContext>());
  uint64_t total = 0;
  bool sink_ok = true;
  std::optional<grpc::Status> malformed;
  {
    // Gone before end() frees the context it cancels.
    const std::stop_callback stop_call(stop, [ctx] { ctx->TryCancel(); });
    transfer::DownloadRequest req;
    req.set_filename(name);
    req.set_offset(offset);
    req.set_length(length);
    std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader(
        grpc::internal::ClientReaderFactory<grpc::ByteBuffer>::Create(channel_.get(),
                                                                      download_method_, ctx, req));
    // Reused for every message: the stream allocates nothing per chunk.
    grpc::ByteBuffer buffer;
    std::vector<grpc::Slice> slices;
    std::vector<std::string_view> views;
    DownloadFrame frame;
    while (reader->Read(&buffer)) {
      // Dump takes references to the received slices, not copies of their bytes.
      if (const grpc::Status dumped = buffer.Dump(&slices); !dumped.ok()) {
        malformed = dumped;
        ctx->TryCancel();
        break;
      }
      views.clear();
      for (const grpc::Slice& s : slices)
        views.emplace_back(reinterpret_cast<const char*>(s.begin()), s.size());
      if (auto parsed = parse_download_frame(views, frame); !parsed) {
        malformed = local_error(grpc::StatusCode::INTERNAL,
                                parsed.error().why + " (from " + address_ + ")");
        ctx->TryCancel();
        break;
      }
      if (frame.total_size != 0) total = frame.total_size;
      if (!sink(frame.chunk)) {
        sink_ok = false;
        ctx->TryCancel();
        break;
      }
      result.bytes += frame.chunk_size();
      if (progress) progress(result.bytes, total);
    }
    slices.clear();
    buffer.Clear();
    result.status = reader->Finish();
  }
  end();
  if (malformed) result.status = *malformed;
  if (!sink_ok && result.status.ok())
    result.status = local_error(grpc::StatusCode::CANCELLED, "download stopped by the receiver");
  // total_size is the whole file's size; the range holds what of it lies past offset.
  const uint64_t rest = total > offset ? total - offset : 0;
  const uint64_t expected = length == 0 ? rest : std::min(length, rest);
  if (result.status.ok() && total != 0 && result.bytes != expected)
    result.status =
        local_error(grpc::StatusCode::DATA_LOSS, "received " + std::to_string(result.bytes) +
                                                     " of " + std::to_string(expected) + " bytes");
  return result;
}

Result<Manifest, grpc::Status> TransferClient::manifest(const std::string& name,
                                                        const std::string& sha256_hex) {
  std::optional<Sha256> wanted;
  if (!sha256_hex.empty() && !(wanted = sha256_from_hex(sha256_hex)))
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "'" + sha256_hex + "' is not a SHA-256 (64 hex digits)");
  auto* ctx = begin(std::make_unique<grpc::ClientContext>());
  transfer::ManifestRequest req;
  req.set_filename(name);
  req.set_sha256(sha256_hex);
  transfer::ManifestResponse resp;
  grpc::Status status = stub_->Manifest(ctx, req, &resp);
  end();
  if (!status.ok()) return status;
  const auto malformed = [&](const std::string& why) {
    return grpc::Status(grpc::StatusCode::DATA_LOSS,
                        "malformed manifest from " + address_ + ": " + why);
  };
  Manifest m;
  m.size = resp.size();
  m.piece_size = resp.piece_size();
  const auto digest = sha256_from_hex(resp.sha256());
  if (!digest) return malformed("sha256 is not 64 hex digits");
  m.sha256 = *digest;
  if (wanted && *wanted != m.sha256) return malformed("it describes other content than asked for");
  if (m.piece_size == 0) return malformed("piece_size is 0");
  if (static_cast<uint64_t>(resp.pieces_size()) != piece_count_for(m.size, m.piece_size))
    return malformed(std::to_string(resp.pieces_size()) + " piece hashes for " +
                     std::to_string(m.size) + " bytes in pieces of " +
                     std::to_string(m.piece_size));
  m.pieces.reserve(resp.pieces_size());
  for (const std::string& p : resp.pieces()) {
    if (p.size() != 32) return malformed("a piece hash is not 32 bytes");
    Sha256& d = m.pieces.emplace_back();
    std::memcpy(d.data(), p.data(), d.size());
  }
  return m;
}

TransferResult TransferClient::download_to_folder(const std::string& name,
                                                  const std::filesystem::path& out_dir,
                                                  bool overwrite, const ProgressFn& progress) {
  TransferResult result;
  // The name decides where the file lands: it must be one plain name inside out_dir.
  if (auto admitted = admit_name(name, NameUse::save); !admitted) {
    result.status = local_error(grpc::StatusCode::INVALID_ARGUMENT,
                                "invalid file name '" + name + "': " + admitted.error().why);
    return result;
  }
  std::unique_ptr<SharedFolder> folder;
  try {
    folder = std::make_unique<SharedFolder>(out_dir);
  } catch (const std::system_error& e) {
    result.status =
        local_error(grpc::StatusCode::FAILED_PRECONDITION,
                    "cannot use output folder " + out_dir.string() + ": " + e.code().message());
    return result;
  }
  if (!overwrite && folder->exists(name)) {
    result.status = local_error(grpc::StatusCode::ALREADY_EXISTS,
                                (out_dir / name).string() + " already exists (use --force)");
    return result;
  }
  auto created = folder->create_temp();
  if (!created) {
    result.status = to_status(created.error());
    return result;
  }
  TempFile temp = std::move(created).value();
  int write_errno = 0;
  uint64_t written = 0;
  // One pwritev per message, straight from gRPC's slices.
  result = download_views(name, 0, 0,
                          [&](std::span<const std::string_view> views) {
                            uint64_t n = 0;
                            for (std::string_view v : views) n += v.size();
                            if (pwrite_all(temp.fd(), views, written)) {
                              written += n;
                              return true;
                            }
                            write_errno = errno;
                            return false;
                          },
                          progress, {});
  if (write_errno != 0) {
    result.status = to_status(fs_failure(write_errno, "cannot write", temp.name()));
    return result;
  }
  if (!result.status.ok()) return result;
  if (auto committed = temp.commit(name, overwrite); !committed) {
    result.status = to_status(committed.error());
    return result;
  }
  result.path = out_dir / name;
  return result;
}

TransferResult TransferClient::upload(const std::filesystem::path& path, const std::string& name,
                                      size_t chunk_size, bool name_only_first,
                                      const ProgressFn& progress) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st;
  TransferResult result;
  if (!fd) {
    result.status = to_status(fs_failure(errno, "cannot open", path.string()));
  } else if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    result.status =
        local_error(grpc::StatusCode::INVALID_ARGUMENT, path.string() + " is not a regular file");
  } else {
    result =
        upload_from([&](char* buf, size_t n) { return ::read(fd.get(), buf, n); },
                    static_cast<uint64_t>(st.st_size), name, chunk_size, name_only_first, progress);
  }
  return result;
}

TransferResult TransferClient::upload_from(const std::function<ssize_t(char*, size_t)>& read,
                                           uint64_t total, const std::string& name,
                                           size_t chunk_size, bool name_only_first,
                                           const ProgressFn& progress) {
  TransferResult result;
  auto* ctx = begin(std::make_unique<grpc::ClientContext>());
  if (!upload_token_.empty()) ctx->AddMetadata("authorization", "Bearer " + upload_token_);
  transfer::UploadResponse resp;
  auto writer = stub_->Upload(ctx, &resp);
  transfer::UploadRequest msg;
  msg.set_filename(name);
  msg.set_total_size(total);
  bool stream_ok = true;
  if (name_only_first) {
    stream_ok = writer->Write(msg);
    msg.clear_filename();
    msg.clear_total_size();
  }
  std::string& buf = *msg.mutable_chunk();
  bool first = !name_only_first;
  int read_errno = 0;
  while (stream_ok) {
    buf.resize(chunk_size);
    const ssize_t n = read(buf.data(), chunk_size);
    if (n < 0) {
      if (errno == EINTR) continue;
      read_errno = errno;
      break;
    }
    buf.resize(static_cast<size_t>(n));
    if (n == 0 && !first) break;
    stream_ok = writer->Write(msg);
    if (first) {
      msg.clear_filename();
      msg.clear_total_size();
      first = false;
    }
    result.bytes += static_cast<uint64_t>(n);
    if (progress) progress(result.bytes, total);
    if (n == 0) break;
  }
  if (read_errno != 0) {
    ctx->TryCancel();
    writer->Finish();
    end();
    result.status =
        local_error(grpc::StatusCode::INTERNAL,
                    std::string("cannot read what to upload: ") + std::strerror(read_errno));
    return result;
  }
  if (stream_ok) writer->WritesDone();
  result.status = writer->Finish();
  end();
  return result;
}

}  // namespace p2p
