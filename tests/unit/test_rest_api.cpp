#include <doctest/doctest.h>

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cctype>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "http/client.hpp"
#include "index/file_index.hpp"
#include "peer/openapi.hpp"
#include "peer/rest_api.hpp"
#include "search/peer_set.hpp"
#include "search/search.hpp"
#include "temp_dir.hpp"

using namespace p2p;

namespace {

using Operation = std::pair<std::string, std::string>;  // method, path

std::set<Operation> documented() {
  const auto doc = boost::json::parse(openapi_json());
  std::set<Operation> ops;
  for (const auto& [path, item] : doc.at("paths").as_object()) {
    for (const auto& [method, op] : item.as_object()) {
      if (method == "parameters") continue;  // shared by the path's operations
      std::string m(method);
      std::transform(m.begin(), m.end(), m.begin(),
                     [](unsigned char c) { return std::toupper(c); });
      ops.emplace(m, std::string(path));
    }
  }
  return ops;
}

std::set<Operation> routed() {
  std::set<Operation> ops;
  for (const auto& r : RestApi::routes()) ops.emplace(std::string(r.method), std::string(r.path));
  return ops;
}

// A RestApi over a temporary folder, with no neighbours, driven without sockets.
struct Api {
  testing::TempDir dir;
  Config cfg;
  asio::io_context io;
  std::unique_ptr<FileIndex> index;
  std::unique_ptr<http::Client> client;
  std::unique_ptr<PeerSet> peers;
  std::unique_ptr<DistributedSearch> search;
  std::unique_ptr<RestApi> api;
  std::unique_ptr<SharedFolder> folder;
  std::unique_ptr<FileService> service;
  std::unique_ptr<HttpFiles> files;

  Api() {
    dir.write("documento1.txt", "hola");
    cfg = parse_config(R"({"ip":"127.0.0.1","rest_port":0,"grpc_port":0,"directory":")" +
                           dir.path.string() + R"(","timeout_ms":50})",
                       "unit.json");
    index = std::make_unique<FileIndex>(cfg.directory);
    index->rescan();
    client = std::make_unique<http::Client>(io.get_executor());
    peers = std::make_unique<PeerSet>(std::nullopt, std::nullopt);
    search = std::make_unique<DistributedSearch>(cfg, *index, *peers, *client);
    api = std::make_unique<RestApi>(cfg, *index, *peers, *search, "unit");
    folder = std::make_unique<SharedFolder>(cfg.directory);
    service = std::make_unique<FileService>(io, *index, *folder, TransferOptions{});
    files = std::make_unique<HttpFiles>(*service);
    api->set_files(files.get(), service.get());
  }

  // `local`: where the request arrived.
  http::Response handle(std::string method, std::string target, std::string body = {},
                        asio::ip::tcp::endpoint local = {}) {
    http::Request req;
    req.method = std::move(method);
    req.target = std::move(target);
    req.body = std::move(body);
    req.local = local;
    http::Response out;
    asio::co_spawn(io, api->handle(req),
                   [&](std::exception_ptr, http::Response r) { out = std::move(r); });
    io.restart();
    io.run();
    return out;
  }
};

}  // namespace

TEST_CASE("the OpenAPI document is an OpenAPI 3.0 object") {
  const auto doc = boost::json::parse(openapi_json());
  CHECK(doc.at("openapi").as_string().starts_with("3.0."));
  CHECK_FALSE(doc.at("info").at("title").as_string().empty());
  CHECK(doc.at("paths").as_object().size() > 0);
}

TEST_CASE("the OpenAPI document describes every route, and only routes") {
  const auto doc = documented();
  for (const auto& op : routed()) {
    INFO(op.first << " " << op.second);
    CHECK(doc.count(op) == 1);
  }
  for (const auto& op : doc) {
    INFO(op.first << " " << op.second);
    CHECK(routed().count(op) == 1);
  }
}

TEST_CASE("handle() answers every route of the table, and 405 or 404 otherwise") {
  Api a;
  for (const auto& r : RestApi::routes()) {
    INFO(r.method << " " << r.path);
    std::string target(r.path);
    if (r.path == "/buscar") target += "?archivo=documento1.txt";
    if (const auto p = target.find("{name}"); p != std::string::npos)
      target.replace(p, 6, "documento1.txt");
    const auto got = a.handle(std::string(r.method), target, r.method == "POST" ? "{}" : "");
    CHECK(got.status != 404);
    CHECK(got.status != 405);
    if (r.method == "GET") CHECK(a.handle("HEAD", target).status == got.status);
    for (const char* other : {"GET", "POST", "PUT", "DELETE", "PATCH"}) {
      if (routed().count({other, std::string(r.path)})) continue;
      CHECK(a.handle(other, target).status == 405);
    }
  }
  CHECK(a.handle("GET", "/nothing").status == 404);
  CHECK(a.handle("GET", "/listado/").status == 404);
}

TEST_CASE("GET /openapi.json serves the built-in document") {
  Api a;
  const auto r = a.handle("GET", "/openapi.json");
  CHECK(r.status == 200);
  CHECK(r.content_type == "application/json");
  REQUIRE(r.shared_body);
  CHECK(r.shared_body->bytes() == openapi_json());
}

TEST_CASE("GET /buscar?holders=N: a peer that holds the file lists itself, at its REST URL") {
  Api a;
  const asio::ip::tcp::endpoint local(asio::ip::make_address("10.1.2.3"), 8123);
  const auto holder = [&](const std::string& target) {
    const auto r = a.handle("GET", target, {}, local);
    CHECK(r.status == 200);
    const auto body = boost::json::parse(r.body);
    REQUIRE(body.at("holders").as_array().size() == 1);
    CHECK(body.at("holders").at(0).at("size") == 4);
    CHECK(body.at("holders").at(0).at("grpc_address") == body.at("grpc_address"));
    return std::string(body.at("holders").at(0).at("url").as_string());
  };
  // The host the gRPC address names (configured ip, else where the request arrived, unless
  // advertise_host says), and the port the request came in on.
  CHECK(holder("/buscar?archivo=documento1.txt&holders=2") == "http://127.0.0.1:8123");
  a.cfg.ip = "0.0.0.0";
  CHECK(holder("/buscar?archivo=documento1.txt&holders=1") == "http://10.1.2.3:8123");
  a.cfg.advertise_host = "files.example";
  CHECK(holder("/buscar?archivo=documento1.txt&holders=16") == "http://files.example:8123");
  // Without holders=N, the reply it always gave.
  CHECK(
      a.handle("GET", "/buscar?archivo=documento1.txt", {}, local).body ==
      R"({"present":true,"filename":"documento1.txt","grpc_address":"files.example:0","size":4})");
  CHECK(a.handle("GET", "/buscar?archivo=documento1.txt&holders=0").status == 400);
}
