// The bench's gRPC ceiling: the least a transfer.FileService server can do. Download streams
// the bytes of a name "size-N" from memory in 64 KiB DownloadResponse messages, serialised
// by protobuf as any stock callback server would, with no file, no index and no limits;
// Upload reads every message and keeps nothing. The bench reads every transfer of our
// peer against it (same client, same run).
// Prints "listening on PORT" on stdout; exits when stdin closes (the bench went away).
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <string>

#include "transfer.grpc.pb.h"

namespace {

constexpr size_t kChunk = 64 * 1024;

class Sender final : public grpc::ServerWriteReactor<transfer::DownloadResponse> {
 public:
  Sender(const std::string& pattern, uint64_t total) : pattern_(pattern), left_(total) {
    msg_.set_total_size(total);
    next();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) return Finish(grpc::Status::CANCELLED);
    msg_.set_total_size(0);
    next();
  }
  void OnDone() override { delete this; }

 private:
  void next() {
    if (left_ == 0) return Finish(grpc::Status::OK);
    const size_t n = std::min<uint64_t>(kChunk, left_);
    msg_.set_chunk(pattern_.data(), n);
    left_ -= n;
    StartWrite(&msg_);
  }
  const std::string& pattern_;
  uint64_t left_;
  transfer::DownloadResponse msg_;
};

class Receiver final : public grpc::ServerReadReactor<transfer::UploadRequest> {
 public:
  explicit Receiver(transfer::UploadResponse* resp) : resp_(resp) { StartRead(&msg_); }
  void OnReadDone(bool ok) override {
    if (!ok) {
      resp_->set_ok(true);
      resp_->set_message("received " + std::to_string(bytes_) + " bytes");
      return Finish(grpc::Status::OK);
    }
    bytes_ += msg_.chunk().size();
    StartRead(&msg_);
  }
  void OnDone() override { delete this; }

 private:
  transfer::UploadResponse* resp_;
  transfer::UploadRequest msg_;
  uint64_t bytes_ = 0;
};

class Bare final : public transfer::FileService::CallbackService {
 public:
  grpc::ServerWriteReactor<transfer::DownloadResponse>* Download(
      grpc::CallbackServerContext*, const transfer::DownloadRequest* req) override {
    const auto& name = req->filename();
    uint64_t total = 0;
    if (name.starts_with("size-"))
      std::from_chars(name.data() + 5, name.data() + name.size(), total);
    return new Sender(pattern_, total);
  }
  grpc::ServerReadReactor<transfer::UploadRequest>* Upload(
      grpc::CallbackServerContext*, transfer::UploadResponse* resp) override {
    return new Receiver(resp);
  }

 private:
  const std::string pattern_ = std::string(kChunk, 'b');
};

}  // namespace

int main() {
  Bare service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  const auto server = builder.BuildAndStart();
  if (!server) return 1;
  std::printf("listening on %d\n", port);
  std::fflush(stdout);
  for (char c; ::read(STDIN_FILENO, &c, 1) > 0;) {
  }
  server->Shutdown();
  return 0;
}
