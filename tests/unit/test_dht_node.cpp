// Real OpenDHT nodes in one process, on 127.0.0.1 with ports of their own: publishing,
// finding by name and by content, withdrawal and expiry, and values that lie.
// OpenDHT first: its Logger has a member named WARN, which doctest defines as a macro.
#include <opendht.h>
// (keep this order)
#include <doctest/doctest.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "discovery/dht_node.hpp"
#include "eventually.hpp"

using namespace p2p;
using namespace std::chrono_literals;
using p2p::testing::eventually;

namespace {

DhtOptions loopback(std::chrono::seconds ttl = 600s) {
  DhtOptions o;
  o.ip = "127.0.0.1";
  o.port = 0;
  o.value_ttl = ttl;
  o.ops_per_second = 1000;
  return o;
}

HolderRecord record(const std::string& name, uint16_t grpc_port, std::string sha = {}) {
  return {"http://127.0.0.1:8001", "127.0.0.1:" + std::to_string(grpc_port), name, 10,
          std::move(sha)};
}

// Three nodes joined through the first; the io_context runs on a thread of its own.
struct Net {
  asio::io_context io;
  std::unique_ptr<DhtNode> a, b, c;
  std::thread runner;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};

  explicit Net(std::chrono::seconds ttl = 600s) {
    a = std::make_unique<DhtNode>(io.get_executor(), loopback(ttl));
    b = std::make_unique<DhtNode>(io.get_executor(), loopback(ttl));
    c = std::make_unique<DhtNode>(io.get_executor(), loopback(ttl));
    b->bootstrap("127.0.0.1", a->port());
    c->bootstrap("127.0.0.1", a->port());
    runner = std::thread([this] { io.run(); });
  }
  // Whether the nodes know each other (a put fails until its node knows another).
  bool joined() {
    return eventually(
        [&] { return a->known_nodes() >= 2 && b->good_nodes() >= 1 && c->good_nodes() >= 1; }, 30s);
  }
  ~Net() {
    a.reset();
    b.reset();
    c.reset();
    work.reset();
    io.stop();
    runner.join();
  }

  std::vector<HolderRecord> find(DhtNode& n, const std::string& key, size_t max = 8) {
    auto any = [](const HolderRecord&) { return true; };
    return asio::co_spawn(io, n.find(key, max, 2000ms, any), asio::use_future).get().holders;
  }
};

}  // namespace

TEST_CASE("a published file is found by name and by content from another node") {
  Net net;
  REQUIRE(net.joined());
  const std::string sha(64, 'b');
  net.a->publish({record("Uno.txt", 5001, sha), record("dos.txt", 5001)});
  CHECK(net.a->published() == 3);  // two names, one content
  std::vector<HolderRecord> found;
  REQUIRE(eventually(
      [&] {
        found = net.find(*net.c, name_key_string("uno.TXT"));
        return !found.empty();
      },
      15s));
  CHECK(found == std::vector{record("Uno.txt", 5001, sha)});
  CHECK(eventually([&] { return net.find(*net.b, sha256_key_string(sha)).size() == 1; }, 15s));
  CHECK(eventually([&] { return net.find(*net.c, name_key_string("dos.txt")).size() == 1; }, 15s));
  CHECK(net.find(*net.c, name_key_string("tres.txt")).empty());
  // Those lookups cost messages, counted from the start (OpenDHT's own counts reset when
  // read; ours add up).
  const auto sent = net.c->messages(false);
  CHECK(sent[1] + sent[2] > 0);  // find, get
  const auto again = net.c->messages(false);
  for (size_t i = 0; i < sent.size(); ++i) CHECK(again[i] >= sent[i]);
  CHECK(net.a->messages(true)[2] + net.b->messages(true)[2] > 0);  // the gets c sent
}

TEST_CASE("holders of one name from several peers are gathered, at most as many as asked") {
  Net net;
  REQUIRE(net.joined());
  net.a->publish({record("comun.bin", 5001)});
  net.b->publish({record("comun.bin", 5002)});
  net.c->publish({record("comun.bin", 5003)});
  CHECK(
      eventually([&] { return net.find(*net.c, name_key_string("comun.bin")).size() == 3; }, 15s));
  CHECK(net.find(*net.c, name_key_string("comun.bin"), 2).size() == 2);
}

TEST_CASE("a file removed or changed is withdrawn; its old values expire") {
  Net net(std::chrono::seconds(3));
  REQUIRE(net.joined());
  net.a->publish({record("cambia.txt", 5001, std::string(64, 'c'))});
  REQUIRE(
      eventually([&] { return !net.find(*net.c, name_key_string("cambia.txt")).empty(); }, 15s));
  // Changed content: one new value under the name, the old one withdrawn and gone in its ttl.
  net.a->publish({record("cambia.txt", 5001, std::string(64, 'd'))});
  CHECK(eventually(
      [&] {
        const auto f = net.find(*net.c, name_key_string("cambia.txt"));
        return f.size() == 1 && f[0].sha256 == std::string(64, 'd');
      },
      30s));
  CHECK(eventually(
      [&] { return net.find(*net.b, sha256_key_string(std::string(64, 'c'))).empty(); }, 30s));
  net.a->publish({});
  CHECK(net.a->published() == 0);
  CHECK(eventually([&] { return net.find(*net.c, name_key_string("cambia.txt")).empty(); }, 30s));
}

TEST_CASE("values that are not holders are skipped and counted") {
  Net net;
  REQUIRE(net.joined());
  // A node of the same network putting garbage under a name's key, with our value type.
  dht::DhtRunner liar;
  dht::DhtRunner::Config cfg;
  cfg.dht_config.node_config.network = DhtOptions{}.network;
  cfg.dht_config.node_config.max_req_per_sec = -1;
  cfg.dht_config.node_config.max_peer_req_per_sec = -1;
  cfg.bind4 = dht::SockAddr::resolve("127.0.0.1", "0").front();
  liar.run(cfg, {});
  liar.bootstrap("127.0.0.1", std::to_string(net.a->port()));
  REQUIRE(eventually([&] { return liar.getNodesStats(AF_INET).good_nodes >= 1; }, 15s));
  const std::string junk = R"({"u":"http://x:1","g":"0.0.0.0:1","n":"falso.txt","s":1})";
  std::atomic<int> stored{-1};
  liar.put(
      dht::InfoHash::get(name_key_string("falso.txt")),
      std::make_shared<dht::Value>(0x7032, reinterpret_cast<const uint8_t*>(junk.data()),
                                   junk.size()),
      [&](bool ok) {
        int none = -1;
        stored.compare_exchange_strong(none, ok ? 1 : 0);
      },
      dht::time_point::max(), true);
  REQUIRE(eventually([&] { return stored.load() != -1; }, 15s));
  REQUIRE(stored.load() == 1);
  net.b->publish({record("falso.txt", 5002)});
  const auto bad_seen = [&] {
    metrics::Exposition e;
    net.c->write_metrics(e);
    return e.text().find("p2p_dht_bad_records_total 0\n") == std::string::npos;
  };
  CHECK(eventually(
      [&] {
        const auto f = net.find(*net.c, name_key_string("falso.txt"));
        return f.size() == 1 && f[0].grpc_address == "127.0.0.1:5002" && bad_seen();
      },
      15s));
  liar.join();
}

TEST_CASE("a port taken is an error, not a node that silently does not listen") {
  asio::io_context io;
  DhtNode first(io.get_executor(), loopback());
  DhtOptions same = loopback();
  same.port = first.port();
  CHECK_THROWS_AS(DhtNode(io.get_executor(), same), std::runtime_error);
}
