// TransferClient's ranged download and Manifest RPC against an in-process FileService on
// loopback, whose answers each test sets (well-formed or not).
#include <doctest/doctest.h>
#include <grpcpp/grpcpp.h>

#include <mutex>
#include <stop_token>

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

struct Server {
  FakeService service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  Server() {
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(&service);
    server = b.BuildAndStart();
  }
  ~Server() { server->Shutdown(); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
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
