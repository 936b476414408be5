// The bench's gRPC ceiling: the least a transfer.FileService server can do. Download streams
// the bytes of a name "size-N" from memory in 64 KiB DownloadResponse messages, serialised
// by protobuf as any stock callback server would, with no file, no index and no limits.
// The bench reads every download of our peer against it (same client, same run).
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
