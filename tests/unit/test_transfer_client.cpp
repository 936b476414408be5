// TransferClient's ranged download and Manifest RPC against an in-process FileService on
// loopback, whose answers each test sets (well-formed or not).
#include <doctest/doctest.h>
#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <mutex>
#include <stop_token>
#include <vector>

#include "temp_dir.hpp"
#include "transfer/client.hpp"

using namespace p2p;

namespace {

class FakeService final : public transfer::FileService::Service {
 public:
  std::string data;
  transfer::ManifestResponse manifest;
  std::mutex mu;
  transfer::DownloadRequest last;  // the last Download request

  grpc::Status Manifest(grpc::ServerContext*, const transfer::ManifestRequest*,
                        transfer::ManifestResponse* resp) override {
    *resp = manifest;
    return grpc::Status::OK;
  }

  grpc::Status Download(grpc::ServerContext*, const transfer::DownloadRequest* req,
                        grpc::ServerWriter<transfer::DownloadResponse>* w) override {
    {
      std::lock_guard lock(mu);
      last = *req;
    }
    const std::string range = data.substr(req->offset(), req->length() ? req->length() : data.npos);
    transfer::DownloadResponse msg;
    msg.set_total_size(data.size());
    for (size_t pos = 0; pos < range.size(); pos += 1000) {
      msg.set_chunk(range.substr(pos, 1000));
      if (!w->Write(msg)) break;
      msg.clear_total_size();
    }
    return grpc::Status::OK;
  }
};

// A service of type S on a loopback port of its own.
template <class S>
struct ServerOf {
  S service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  ServerOf() {
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(&service);
    server = b.BuildAndStart();
  }
  ~ServerOf() { server->Shutdown(); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
};
using Server = ServerOf<FakeService>;

// Answers Download with `frames` as they are, bytes a protobuf sender may or may not produce.
class RawService final
    : public transfer::FileService::WithRawCallbackMethod_Download<transfer::FileService::Service> {
 public:
  std::vector<std::string> frames;

  grpc::ServerWriteReactor<grpc::ByteBuffer>* Download(grpc::CallbackServerContext*,
                                                       const grpc::ByteBuffer*) override {
    class Writer : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
     public:
      explicit Writer(const std::vector<std::string>& frames) : frames_(frames) { next(); }
      void OnWriteDone(bool ok) override { ok ? next() : Finish(grpc::Status::CANCELLED); }
      void OnDone() override { delete this; }

     private:
      void next() {
        if (i_ == frames_.size()) return Finish(grpc::Status::OK);
        grpc::Slice slice(frames_[i_++]);
        buffer_ = grpc::ByteBuffer(&slice, 1);
        StartWrite(&buffer_);
      }
      const std::vector<std::string>& frames_;
      size_t i_ = 0;
      grpc::ByteBuffer buffer_;
    };
    return new Writer(frames);
  }
};

// A well-formed answer for `data` in pieces of `piece_size`.
transfer::ManifestResponse answer_for(const std::string& data, uint64_t piece_size) {
  ManifestBuilder b(piece_size);
  b.update(data);
  const Manifest m = b.finish();
  transfer::ManifestResponse r;
  r.set_filename("f.bin");
  r.set_size(m.size);
  r.set_sha256(to_hex(m.sha256));
  r.set_piece_size(m.piece_size);
  for (const Sha256& p : m.pieces) r.add_pieces(std::string(p.begin(), p.end()));
  return r;
}

}  // namespace

TEST_CASE("manifest: a well-formed answer becomes a Manifest; malformed ones are refused") {
  Server s;
  REQUIRE(s.port != 0);
  const std::string data(2500, 'x');
  TransferClient c(s.address());
  s.service.manifest = answer_for(data, 1000);
  auto m = c.manifest("f.bin");
  REQUIRE(m.ok());
  CHECK(m->size == 2500);
  CHECK(m->piece_count() == 3);
  CHECK(m->piece_matches(2, std::string(500, 'x')));
  CHECK(c.manifest("", to_hex(m->sha256)).ok());

  auto wrong_content = c.manifest("", std::string(64, 'a'));
  REQUIRE_FALSE(wrong_content.ok());
  CHECK(wrong_content.error().error_code() == grpc::StatusCode::DATA_LOSS);
  CHECK(c.manifest("", "nothex").error().error_code() == grpc::StatusCode::INVALID_ARGUMENT);

  s.service.manifest.add_pieces(std::string(32, '\0'));  // one piece too many
  CHECK(c.manifest("f.bin").error().error_code() == grpc::StatusCode::DATA_LOSS);
  s.service.manifest = answer_for(data, 1000);
  s.service.manifest.set_pieces(1, "short");
  CHECK(c.manifest("f.bin").error().error_code() == grpc::StatusCode::DATA_LOSS);
  s.service.manifest.set_piece_size(0);
  CHECK(c.manifest("f.bin").error().error_code() == grpc::StatusCode::DATA_LOSS);
}

TEST_CASE("download_range asks for its range; download is the range 0/0") {
  Server s;
  for (int i = 0; i < 5000; ++i) s.service.data += static_cast<char>('a' + i % 26);
  TransferClient c(s.address());
  std::string got;
  const auto sink = [&](std::string_view chunk) {
    got.append(chunk);
    return true;
  };
  auto r = c.download_range("f.bin", 1234, 2000, sink);
  REQUIRE(r.status.ok());
  CHECK(got == s.service.data.substr(1234, 2000));
  CHECK(s.service.last.offset() == 1234);
  CHECK(s.service.last.length() == 2000);

  got.clear();
  REQUIRE(c.download("f.bin", sink).status.ok());
  CHECK(got == s.service.data);
  CHECK(s.service.last.offset() == 0);
  CHECK(s.service.last.length() == 0);

  std::stop_source stop;
  stop.request_stop();  // before the call starts: it still ends it
  got.clear();
  r = c.download_range("f.bin", 0, 0, sink, {}, stop.get_token());
  CHECK(r.status.error_code() == grpc::StatusCode::CANCELLED);
  // A stop is for one call only.
  REQUIRE(c.download_range("f.bin", 10, 0, sink).status.ok());
}

TEST_CASE("download: unknown fields are skipped; a malformed message fails and stores nothing") {
  ServerOf<RawService> s;
  REQUIRE(s.port != 0);
  transfer::DownloadResponse first;
  first.set_chunk(std::string(100000, 'a'));  // longer than one slice of gRPC's, likely
  first.set_total_size(100003);
  // Field 9 (a string) and field 10 (a fixed32): a newer sender's fields, unknown here.
  s.service.frames = {first.SerializeAsString() + "\x4a\x02hi", "\x55\x01\x02\x03\x04\x0a\x03xyz"};
  TransferClient c(s.address());
  std::string got;
  size_t calls = 0;
  const auto sink = [&](std::string_view chunk) {
    got.append(chunk);
    ++calls;
    return true;
  };
  auto r = c.download("f.bin", sink);
  REQUIRE(r.status.ok());
  CHECK(got == std::string(100000, 'a') + "xyz");
  CHECK(r.bytes == 100003);
  CHECK(calls >= 2);

  testing::TempDir out;
  r = c.download_to_folder("f.bin", out.path, false);
  REQUIRE(r.status.ok());
  CHECK(std::filesystem::file_size(out.path / "f.bin") == 100003);

  // A chunk whose length runs past the message's end.
  s.service.frames = {first.SerializeAsString(), "\x0a\x7fshort"};
  got.clear();
  r = c.download("f.bin", sink);
  CHECK(r.status.error_code() == grpc::StatusCode::INTERNAL);
  CHECK(r.status.error_message().find("malformed DownloadResponse") != std::string::npos);
  r = c.download_to_folder("g.bin", out.path, false);
  CHECK(r.status.error_code() == grpc::StatusCode::INTERNAL);
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(out.path)) ++files;
  CHECK(files == 1);  // f.bin only: no g.bin and no temporary left behind
}
