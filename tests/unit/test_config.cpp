#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "core/config.hpp"
#include "temp_dir.hpp"

using namespace p2p;
using p2p::testing::TempDir;
namespace fs = std::filesystem;

namespace {

std::string base(const fs::path& dir, const std::string& extra = "") {
  return R"({"ip":"127.0.0.1","rest_port":8001,"grpc_port":50051,"directory":")" + dir.string() +
         "\"" + extra + "}";
}

// The ConfigError message for `json`; fails the test when it parses.
std::string error_of(const std::string& json, const std::string& source = "peerX.json") {
  try {
    parse_config(json, source);
  } catch (const ConfigError& e) {
    return e.what();
  }
  FAIL("config was accepted: " << json);
  return {};
}

}  // namespace

TEST_CASE("the default thread count is half the cores, 1 to 8") {
  const unsigned cores = std::thread::hardware_concurrency();
  CHECK(default_threads() >= 1);
  CHECK(default_threads() <= 8);
  if (cores >= 2 && cores <= 16) CHECK(default_threads() == cores / 2);
}

TEST_CASE("the seed's config parses with defaults") {
  TempDir d;
  const auto cfg = parse_config(
      base(d.path,
           R"(,"peer_titular":"http://127.0.0.1:8002","peer_suplente":"http://127.0.0.1:8003")"),
      "configs/peer1.json");
  CHECK(cfg.ip == "127.0.0.1");
  CHECK(cfg.rest_port == 8001);
  CHECK(cfg.grpc_port == 50051);
  CHECK(cfg.directory == fs::canonical(d.path));
  REQUIRE(cfg.peer_titular);
  CHECK(cfg.peer_titular->port == 8002);
  CHECK(cfg.peer_suplente->port == 8003);
  CHECK(cfg.name == "Peer1");
  CHECK(cfg.timeout_ms == 3000);
  CHECK(cfg.ttl == 3);
  CHECK(cfg.chunk_size == 65536);
  CHECK(cfg.max_upload_bytes == 0);
  CHECK_FALSE(cfg.allow_overwrite);
  CHECK(cfg.threads == default_threads());
  CHECK(cfg.advertise_host.empty());
}

TEST_CASE("optional fields") {
  TempDir d;
  const auto cfg = parse_config(base(d.path, R"(,"name":"Alpha","advertise_host":"h1",
      "timeout_ms":500,"ttl":0,"chunk_size":131072,"max_upload_bytes":1000,
      "allow_overwrite":true,"threads":2,"peer_titular":null,"peer_suplente":"","extra":[1,2],
      "upload_token":"t0k")"),
                                "p.json");
  CHECK(cfg.name == "Alpha");
  CHECK(cfg.advertise_host == "h1");
  CHECK(cfg.timeout_ms == 500);
  CHECK(cfg.ttl == 0);
  CHECK(cfg.chunk_size == 131072);
  CHECK(cfg.max_upload_bytes == 1000);
  CHECK(cfg.allow_overwrite);
  CHECK(cfg.threads == 2);
  CHECK(cfg.upload_token == "t0k");
  CHECK_FALSE(cfg.peer_titular);
  CHECK_FALSE(cfg.peer_suplente);
  REQUIRE(cfg.unknown_fields.size() == 1);
  CHECK(cfg.unknown_fields[0] == "extra");
}

TEST_CASE("missing required fields are named") {
  TempDir d;
  const std::string dir = d.path.string();
  CHECK(error_of(R"({"rest_port":1,"grpc_port":2,"directory":")" + dir + "\"}").find("'ip'") !=
        std::string::npos);
  CHECK(error_of(R"({"ip":"x","grpc_port":2,"directory":")" + dir + "\"}").find("'rest_port'") !=
        std::string::npos);
  CHECK(error_of(R"({"ip":"x","rest_port":1,"directory":")" + dir + "\"}").find("'grpc_port'") !=
        std::string::npos);
  CHECK(error_of(R"({"ip":"x","rest_port":1,"grpc_port":2})").find("'directory'") !=
        std::string::npos);
}

TEST_CASE("wrong types and ranges are named") {
  TempDir d;
  const std::string dir = d.path.string();
  auto msg = error_of(R"({"ip":"x","rest_port":"8001","grpc_port":2,"directory":")" + dir + "\"}",
                      "configs/peer9.json");
  CHECK(msg.find("configs/peer9.json") != std::string::npos);
  CHECK(msg.find("'rest_port'") != std::string::npos);
  CHECK(msg.find("string") != std::string::npos);
  CHECK(error_of(R"({"ip":1,"rest_port":1,"grpc_port":2,"directory":"/"})").find("'ip'") !=
        std::string::npos);
  CHECK(error_of(R"({"ip":"x","rest_port":70000,"grpc_port":2,"directory":")" + dir + "\"}")
            .find("65535") != std::string::npos);
  CHECK(error_of(R"({"ip":"x","rest_port":-1,"grpc_port":2,"directory":")" + dir + "\"}")
            .find("'rest_port'") != std::string::npos);
  CHECK(error_of(R"({"ip":"x","rest_port":1.5,"grpc_port":2,"directory":")" + dir + "\"}")
            .find("'rest_port'") != std::string::npos);
  CHECK(error_of(R"({"ip":"x","rest_port":5,"grpc_port":5,"directory":")" + dir + "\"}")
            .find("'grpc_port'") != std::string::npos);
  CHECK(error_of(base(d.path, R"(,"timeout_ms":0)")).find("'timeout_ms'") != std::string::npos);
  CHECK(error_of(base(d.path, R"(,"threads":"2")")).find("'threads'") != std::string::npos);
  CHECK(error_of(base(d.path, R"(,"allow_overwrite":"yes")")).find("'allow_overwrite'") !=
        std::string::npos);
  CHECK(error_of(base(d.path, R"(,"chunk_size":10)")).find("'chunk_size'") != std::string::npos);
}

TEST_CASE("bad peer URLs are named") {
  TempDir d;
  auto msg = error_of(base(d.path, R"(,"peer_titular":"127.0.0.1:8002")"));
  CHECK(msg.find("'peer_titular'") != std::string::npos);
  CHECK(msg.find("http://") != std::string::npos);
  CHECK(error_of(base(d.path, R"(,"peer_suplente":"http://h:99999")")).find("'peer_suplente'") !=
        std::string::npos);
  CHECK(error_of(base(d.path, R"(,"peer_suplente":8003)")).find("'peer_suplente'") !=
        std::string::npos);
}

TEST_CASE("TLS files: given together and present") {
  TempDir d;
  const std::string cert = (d.path / "peer.pem").string(), key = (d.path / "peer.key").string();
  std::ofstream(cert) << "x";
  std::ofstream(key) << "x";
  const auto cfg = parse_config(base(d.path, R"(,"tls_cert":")" + cert + R"(","tls_key":")" + key +
                                                 R"(","tls_ca":")" + cert + "\""),
                                "p.json");
  CHECK(cfg.tls_cert == cert);
  CHECK(cfg.tls_key == key);
  CHECK(cfg.tls_ca == cert);
  CHECK(parse_config(base(d.path), "p.json").tls_cert.empty());
  auto msg = error_of(base(d.path, R"(,"tls_cert":")" + cert + "\""));
  CHECK(msg.find("'tls_key'") != std::string::npos);
  CHECK(msg.find("private key") != std::string::npos);
  CHECK(error_of(base(d.path, R"(,"tls_key":")" + key + "\"")).find("'tls_cert'") !=
        std::string::npos);
  msg = error_of(base(d.path, R"(,"tls_ca":")" + (d.path / "nope.pem").string() + "\""));
  CHECK(msg.find("'tls_ca'") != std::string::npos);
  CHECK(msg.find("nope.pem") != std::string::npos);
  CHECK(error_of(base(d.path, R"(,"tls_ca":"")")).find("empty") != std::string::npos);
}

TEST_CASE("directory must exist and be a directory") {
  TempDir d;
  auto msg = error_of(R"({"ip":"x","rest_port":1,"grpc_port":2,"directory":")" +
                      (d.path / "nope").string() + "\"}");
  CHECK(msg.find("'directory'") != std::string::npos);
  CHECK(msg.find("does not exist") != std::string::npos);
  std::ofstream(d.path / "file") << "x";
  msg = error_of(R"({"ip":"x","rest_port":1,"grpc_port":2,"directory":")" +
                 (d.path / "file").string() + "\"}");
  CHECK(msg.find("not a directory") != std::string::npos);
}

TEST_CASE("malformed documents") {
  CHECK(error_of("").find("peerX.json") != std::string::npos);
  CHECK(error_of("{").find("peerX.json") != std::string::npos);
  CHECK(error_of("[1,2]").find("object") != std::string::npos);
  CHECK(error_of(R"({"ip":"x"} trailing)").size() > 0);
}

TEST_CASE("load_config names an unreadable file") {
  try {
    load_config("/nonexistent/peer.json");
    FAIL("accepted a missing file");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()).find("/nonexistent/peer.json") != std::string::npos);
  }
}

TEST_CASE("default names") {
  CHECK(default_peer_name("configs/peer1.json") == "Peer1");
  CHECK(default_peer_name("alpha.json") == "Alpha");
}

TEST_CASE("content hashing: piece_size and state_dir") {
  TempDir d, state;
  const auto defaults = parse_config(base(d.path), "p.json");
  CHECK(defaults.piece_size == 1024 * 1024);
  CHECK(defaults.state_dir.is_absolute());

  const auto cfg = parse_config(
      base(d.path, R"(,"piece_size":262144,"state_dir":")" + state.path.string() + "\""), "p.json");
  CHECK(cfg.piece_size == 262144);
  CHECK(cfg.state_dir == state.path);
  // One cache file per shared folder, named after it, inside state_dir.
  const auto file = hash_cache_file(cfg);
  CHECK(file.parent_path() == state.path);
  CHECK(file.filename().string().find("hashes-" + d.path.filename().string() + "-") == 0);
  TempDir other;
  CHECK(hash_cache_file(parse_config(
            base(other.path, R"(,"state_dir":")" + state.path.string() + "\""), "p.json")) != file);

  CHECK(error_of(base(d.path, R"(,"piece_size":100000)")).find("multiple of chunk_size") !=
        std::string::npos);
  CHECK(error_of(base(d.path, R"(,"state_dir":")" + (d.path / "state").string() + "\""))
            .find("inside the shared folder") != std::string::npos);
  CHECK(error_of(base(d.path, R"(,"state_dir":")" + d.path.string() + "\""))
            .find("inside the shared folder") != std::string::npos);
}

TEST_CASE("max_upload_rate: bytes per second, 0 (the default) for unlimited") {
  TempDir d;
  CHECK(parse_config(base(d.path), "p.json").max_upload_rate == 0);
  CHECK(parse_config(base(d.path, R"(,"max_upload_rate":0)"), "p.json").max_upload_rate == 0);
  CHECK(parse_config(base(d.path, R"(,"max_upload_rate":1024)"), "p.json").max_upload_rate == 1024);
  CHECK(parse_config(base(d.path, R"(,"max_upload_rate":10000000000)"), "p.json").max_upload_rate ==
        10000000000ull);
  for (const char* bad : {"-1", "1.5", "\"1M\"", "true", "1023", "1"}) {
    CAPTURE(bad);
    const std::string msg = error_of(base(d.path, std::string(R"(,"max_upload_rate":)") + bad));
    CHECK(msg.find("'max_upload_rate'") != std::string::npos);
  }
  CHECK(error_of(base(d.path, R"(,"max_upload_rate":1)")).find("at least 1024") !=
        std::string::npos);
}

TEST_CASE("the DHT's keys: defaults, values, and mistakes named") {
  TempDir dir;
  const Config d = parse_config(base(dir.path), "p.json");
  CHECK(d.dht);
  CHECK(d.dht_port == 4222);
  CHECK(d.dht_network != 0);  // never OpenDHT's public network by default
  CHECK(d.dht_bootstrap.empty());
  CHECK(d.dht_value_ttl_s == 600);
  const Config c = parse_config(
      base(dir.path, R"(,"dht":false,"dht_port":0,"dht_network":7,)"
                     R"("dht_bootstrap":["10.0.0.2:4222","[::1]:4223"],"dht_value_ttl_s":5)"),
      "p.json");
  CHECK_FALSE(c.dht);
  CHECK(c.dht_port == 0);
  CHECK(c.dht_network == 7);
  CHECK(c.dht_bootstrap == std::vector<std::string>{"10.0.0.2:4222", "[::1]:4223"});
  CHECK(c.dht_value_ttl_s == 5);
  CHECK(error_of(base(dir.path, R"(,"dht_bootstrap":"a:1")")).find("array") != std::string::npos);
  CHECK(error_of(base(dir.path, R"(,"dht_bootstrap":["a"])")).find("'a' is not host:port") !=
        std::string::npos);
  CHECK(error_of(base(dir.path, R"(,"dht_bootstrap":["a:0"])")).find("host:port") !=
        std::string::npos);
  CHECK(error_of(base(dir.path, R"(,"dht_network":0)")).find("dht_network") != std::string::npos);
  CHECK(error_of(base(dir.path, R"(,"dht_port":70000)")).find("dht_port") != std::string::npos);
  CHECK(error_of(base(dir.path, R"(,"dht_value_ttl_s":1)")).find("dht_value_ttl_s") !=
        std::string::npos);
}
