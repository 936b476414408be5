// The REST request path without sockets: bytes -> llhttp parser -> router -> response.
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "http/client.hpp"
#include "http/request_parser.hpp"
#include "index/file_index.hpp"
#include "peer/rest_api.hpp"
#include "search/peer_set.hpp"
#include "search/search.hpp"

namespace {

struct World {
  std::filesystem::path dir;
  p2p::Config cfg;
  asio::io_context io;
  std::unique_ptr<p2p::FileIndex> index;
  std::unique_ptr<p2p::http::Client> client;
  std::unique_ptr<p2p::PeerSet> peers;
  std::unique_ptr<p2p::DistributedSearch> search;
  std::unique_ptr<p2p::RestApi> api;

  World() {
    char tmpl[] = "/tmp/p2p-fuzz-XXXXXX";
    dir = std::filesystem::canonical(::mkdtemp(tmpl));
    std::ofstream(dir / "documento1.txt") << "hola";
    std::ofstream(dir / "b b.txt") << "x";
    cfg = p2p::parse_config(R"({"ip":"127.0.0.1","rest_port":0,"grpc_port":0,"directory":")" +
                                dir.string() + R"(","timeout_ms":50})",
                            "fuzz.json");
    index = std::make_unique<p2p::FileIndex>(cfg.directory);
    index->rescan();
    client = std::make_unique<p2p::http::Client>(io.get_executor());
    peers = std::make_unique<p2p::PeerSet>(std::nullopt, std::nullopt);  // no network
    search = std::make_unique<p2p::DistributedSearch>(cfg, *index, *peers, *client);
    api = std::make_unique<p2p::RestApi>(cfg, *index, *peers, *search, "fuzz");
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World world;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  p2p::http::RequestParser parser;
  std::string out;
  for (int guard = 0; guard < 1000 && !in.empty(); ++guard) {
    const auto r = parser.feed(in);
    in.remove_prefix(r.consumed);
    if (r.state == p2p::http::RequestParser::State::need_more) break;
    if (r.state == p2p::http::RequestParser::State::error) {
      const int status = parser.error_status();
      if (status < 400 || status > 599) __builtin_trap();
      p2p::http::serialize(p2p::http::json_error(status, parser.error_message()), nullptr, false,
                           out);
      break;
    }
    auto& req = parser.request();
    p2p::http::Response resp;
    asio::co_spawn(world.io, world.api->handle(req),
                   [&](std::exception_ptr e, p2p::http::Response got) {
                     if (e) __builtin_trap();  // a handler never throws
                     resp = std::move(got);
                   });
    world.io.restart();
    world.io.run();
    if (resp.status < 200 || resp.status > 599) __builtin_trap();
    p2p::http::serialize(resp, &req, false, out);
    if (resp.close) break;
    if (r.state == p2p::http::RequestParser::State::headers_ready) {
      // A streamed body (a PUT): through feed_body, as the server reads it, in place.
      std::string scratch;
      for (int pieces = 0; pieces < 1000 && !in.empty(); ++pieces) {
        scratch.assign(in.substr(0, 4096));
        const auto b = parser.feed_body(scratch, scratch.data(), scratch.size());
        if (b.body_bytes > b.consumed) __builtin_trap();  // more body than input
        in.remove_prefix(b.consumed);
        if (b.state != p2p::http::RequestParser::State::need_more) break;
      }
    }
  }
  return 0;
}
