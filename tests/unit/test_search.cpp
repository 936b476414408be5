#include <doctest/doctest.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "core/metrics.hpp"
#include "search/breaker.hpp"
#include "search/peer_set.hpp"
#include "search/query.hpp"
#include "search/reply.hpp"
#include "search/search.hpp"
#include "search/seen_queries.hpp"
#include "temp_dir.hpp"

using namespace p2p;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST_CASE("the breaker opens after three failures and lets one trial through later") {
  CircuitBreaker b;
  const auto t0 = Clock::now();
  CHECK(b.allow(t0));
  b.failure(t0, false);
  b.failure(t0, false);
  CHECK(b.state(t0) == CircuitBreaker::State::closed);
  b.failure(t0, false);
  CHECK(b.state(t0) == CircuitBreaker::State::open);
  CHECK_FALSE(b.allow(t0 + 100ms));
  const auto later = b.open_until() + 1ms;
  CHECK(b.open_until() - t0 >= 800ms);  // 1 s with at most 20 % jitter
  CHECK(b.open_until() - t0 <= 1200ms);
  CHECK(b.state(later) == CircuitBreaker::State::half_open);
  CHECK(b.allow(later));        // the trial
  CHECK_FALSE(b.allow(later));  // only one
  b.success();
  CHECK(b.state(later) == CircuitBreaker::State::closed);
  CHECK(b.consecutive_failures() == 0);
}

TEST_CASE("a timeout opens at once, and failed trials double the cool-down up to 30 s") {
  CircuitBreaker b;
  auto t = Clock::now();
  b.failure(t, true);
  CHECK(b.state(t) == CircuitBreaker::State::open);
  auto previous = b.open_until() - t;
  for (int i = 0; i < 10; ++i) {
    t = b.open_until() + 1ms;
    REQUIRE(b.allow(t));
    b.failure(t, false);
    const auto cooldown = b.open_until() - t;
    CHECK(cooldown <= CircuitBreaker::kMaxCooldown);
    if (previous < 10s) CHECK(cooldown > previous);
    previous = cooldown;
  }
  CHECK(previous >= 24s);  // reached the cap (minus jitter)
}

TEST_CASE("peer set: order, announcements, bound, forgetting") {
  PeerSet set(*parse_http_url("http://127.0.0.1:8002"), *parse_http_url("http://127.0.0.1:8003"),
              3);
  const auto t = Clock::now();
  CHECK(set.learn(*parse_http_url("http://10.0.0.1:1"), "10.0.0.1:2", "a", t));
  CHECK_FALSE(set.learn(*parse_http_url("http://10.0.0.1:1"), "10.0.0.1:2", "a", t));
  CHECK_FALSE(set.learn(*parse_http_url("http://127.0.0.1:8002"), "127.0.0.1:50052", "P2", t));
  set.learn(*parse_http_url("http://10.0.0.2:1"), "", "b", t + 1s);
  set.learn(*parse_http_url("http://10.0.0.3:1"), "", "c", t + 2s);
  set.learn(*parse_http_url("http://10.0.0.4:1"), "", "d", t + 3s);  // evicts the oldest, a
  const auto order = set.in_order();
  REQUIRE(order.size() == 5);
  CHECK(order[0].port == 8002);
  CHECK(order[1].port == 8003);
  CHECK(order[2].host == "10.0.0.2");
  CHECK(order[4].host == "10.0.0.4");
  // A learned peer failing for over a minute is forgotten; the titular never is.
  const auto b = *parse_http_url("http://10.0.0.2:1");
  set.report(b, false, false, t + 10s);
  set.report(b, false, false, t + 80s);
  CHECK(set.learned_count() == 2);
  const auto titular = *parse_http_url("http://127.0.0.1:8002");
  set.report(titular, false, true, t + 10s);
  set.report(titular, false, true, t + 100s);
  CHECK(set.in_order().size() == 4);
  CHECK_FALSE(set.allow(titular, t + 100s));
  const auto json = set.to_json(t + 100s);
  CHECK(json.at(0).at("state") == "open");
  CHECK(json.at(0).at("name") == "P2");
}

TEST_CASE("seen queries") {
  SeenQueries seen(6s);
  const auto t = Clock::now();
  CHECK(seen.first_time("q1", t));
  CHECK_FALSE(seen.first_time("q1", t + 1s));
  CHECK(seen.first_time("q2", t + 1s));
  CHECK_FALSE(seen.first_time("q2", t + 5s));
  CHECK(seen.first_time("q1", t + 7s));  // forgotten after max_age
}

namespace {

const HttpUrl kTitular = *parse_http_url("http://10.0.0.2:8002");
const HttpUrl kSuplente = *parse_http_url("http://10.0.0.3:8003");
constexpr const char* kLocal = "10.0.0.1:50051";  // this peer's gRPC address

http::ClientResponse answered(int status, std::string body) {
  http::ClientResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}
http::ClientResponse hit(std::string grpc_address) {
  return answered(200, search_reply_body({true, std::move(grpc_address), "d.txt", {}, "", ""}));
}
http::ClientResponse miss() { return answered(200, search_reply_body({})); }
http::ClientResponse failed(http::ClientResponse::Error e) {
  http::ClientResponse r;
  r.error = e;
  r.message = http::error_name(e);
  return r;
}

// A DistributedSearch with a titular and a suplente, in simulated time: its clock is `now`,
// and its peers are `answer`, which may move `now` on (a hung peer costs its whole attempt).
struct Sim {
  struct Asked {
    std::string peer;
    SearchQuery q;  // as the peer read it off the wire
    Clock::time_point at, deadline;
  };

  testing::TempDir dir;
  Config cfg;
  std::unique_ptr<FileIndex> index;
  PeerSet peers{kTitular, kSuplente};
  Clock::time_point now = Clock::time_point{} + 1h;
  std::vector<Asked> asked;
  std::function<http::ClientResponse(const Asked&)> answer = [](const Asked&) { return miss(); };
  std::unique_ptr<DistributedSearch> search;

  Sim() {
    dir.write("here.txt", "aqui");
    cfg.directory = dir.path;
    cfg.timeout_ms = 1000;
    cfg.ttl = 3;
    index = std::make_unique<FileIndex>(cfg.directory);
    index->rescan();
    search = std::make_unique<DistributedSearch>(
        cfg, *index, peers,
        [this](HttpUrl peer, std::string target,
               Clock::time_point deadline) -> asio::awaitable<http::ClientResponse> {
          auto q = parse_search_query(target.substr(target.find('?') + 1));
          REQUIRE(q);
          asked.push_back({peer.str(), std::move(q).value(), now, deadline});
          co_return answer(asked.back());
        },
        [this] { return now; });
  }

  SearchOutcome run(SearchQuery q, std::string local = kLocal) {
    asio::io_context io;
    auto f = asio::co_spawn(io, search->search(std::move(q), std::move(local)), asio::use_future);
    io.run();
    return f.get();
  }
  SearchOutcome run(std::string name) { return run(SearchQuery{std::move(name), {}, {}, {}, {}}); }

  std::vector<std::string> peers_asked() const {
    std::vector<std::string> out;
    for (const auto& a : asked) out.push_back(a.peer);
    return out;
  }
};

}  // namespace

TEST_CASE("search: the titular gets half of what is left, the suplente the rest") {
  Sim sim;
  const auto t0 = sim.now;
  const auto r = sim.run("d.txt");
  CHECK_FALSE(r.reply.present);
  CHECK_FALSE(r.timed_out);
  REQUIRE(sim.asked.size() == 2);
  CHECK(sim.asked[0].peer == kTitular.str());
  CHECK(sim.asked[0].deadline == t0 + 500ms);
  CHECK(sim.asked[0].q.budget == 450ms);  // its own wait, less the margin for the way back
  CHECK(sim.asked[1].peer == kSuplente.str());
  CHECK(sim.asked[1].deadline == t0 + 1000ms);
  CHECK(sim.asked[1].q.budget == 950ms);
  // One query id and one hop less for both; the asker's budget bounds the whole walk.
  CHECK(sim.asked[0].q.ttl == 2u);
  CHECK(sim.asked[0].q.qid.size() == 16);
  CHECK(sim.asked[1].q.qid == sim.asked[0].q.qid);
  sim.asked.clear();
  sim.run(SearchQuery{"e.txt", 1, "q2", 300ms, {}});
  REQUIRE(sim.asked.size() == 2);
  CHECK(sim.asked[0].deadline == t0 + 150ms);
  CHECK(sim.asked[0].q.ttl == 0u);
  CHECK(sim.asked[0].q.qid == "q2");
  CHECK(sim.asked[1].deadline == t0 + 300ms);
}

TEST_CASE("search: a hung titular costs its half; the suplente still answers in time") {
  Sim sim;
  const auto t0 = sim.now;
  sim.answer = [&](const Sim::Asked& a) {
    if (a.peer == kTitular.str()) {
      sim.now = a.deadline;
      return failed(http::ClientResponse::Error::timeout);
    }
    sim.now += 100ms;
    return hit("10.0.0.3:50053");
  };
  const auto r = sim.run("d.txt");
  REQUIRE(r.reply.present);
  CHECK_FALSE(r.timed_out);
  CHECK(r.reply.grpc_address == "10.0.0.3:50053");
  CHECK(r.reply.via == kSuplente.str());
  REQUIRE(sim.asked.size() == 2);
  CHECK(sim.asked[1].at == t0 + 500ms);
  CHECK(sim.asked[1].deadline == t0 + 1000ms);
  CHECK(sim.now < t0 + 1000ms);
  // A timeout opens the titular's breaker at once: the next search goes straight on.
  sim.asked.clear();
  sim.run("d.txt");
  CHECK(sim.peers_asked() == std::vector<std::string>{kSuplente.str()});
}

TEST_CASE("search: every peer hung is a timeout") {
  Sim sim;
  sim.answer = [&](const Sim::Asked& a) {
    sim.now = a.deadline;
    return failed(http::ClientResponse::Error::timeout);
  };
  const auto r = sim.run("d.txt");
  CHECK_FALSE(r.reply.present);
  CHECK(r.timed_out);
  metrics::Exposition e;
  sim.search->write_metrics(e);
  CHECK(e.text().find("p2p_searches_total{outcome=\"timeout\"} 1") != std::string::npos);
}

TEST_CASE("search: after three failures a peer is skipped until its cool-down passes") {
  Sim sim;
  sim.answer = [&](const Sim::Asked& a) {
    return a.peer == kTitular.str() ? failed(http::ClientResponse::Error::refused) : miss();
  };
  for (int i = 0; i < CircuitBreaker::kFailureThreshold; ++i) sim.run("d.txt");
  CHECK(sim.asked.size() == 2 * CircuitBreaker::kFailureThreshold);
  sim.asked.clear();
  sim.now += 500ms;  // less than the shortest cool-down (1 s less 20 % jitter)
  sim.run("d.txt");
  CHECK(sim.peers_asked() == std::vector<std::string>{kSuplente.str()});
  sim.asked.clear();
  sim.now += 1s;  // past the longest (1 s and 20 %): one trial goes through
  sim.answer = [&](const Sim::Asked& a) {
    return a.peer == kTitular.str() ? hit("10.0.0.2:50052") : miss();
  };
  CHECK(sim.run("d.txt").reply.via == kTitular.str());
  CHECK(sim.peers_asked() == std::vector<std::string>{kTitular.str()});
}

TEST_CASE("search: a query id seen before is answered from the local index alone") {
  Sim sim;
  const SearchQuery q{"d.txt", 2, "loop1", {}, {}};
  sim.run(q);
  CHECK(sim.asked.size() == 2);
  sim.asked.clear();
  const auto again = sim.run(q);  // come back round a cycle
  CHECK_FALSE(again.reply.present);
  CHECK(sim.asked.empty());
  auto local = q;
  local.name = "HERE.txt";
  CHECK(sim.run(local).reply.present);  // what this peer holds it still says
}

TEST_CASE("search: ttl 0 asks nobody; a local hit asks nobody either") {
  Sim sim;
  const auto r = sim.run(SearchQuery{"d.txt", 0, "t0", {}, {}});
  CHECK_FALSE(r.reply.present);
  CHECK_FALSE(r.timed_out);
  const auto here = sim.run(" here.TXT ");
  REQUIRE(here.reply.present);
  CHECK(here.reply.grpc_address == kLocal);
  CHECK(here.reply.filename == "here.txt");
  CHECK(here.reply.size == 4u);
  CHECK(here.reply.via.empty());
  CHECK(sim.asked.empty());
}

TEST_CASE("search: a Python-original holder without grpc_address is the last resort") {
  Sim sim;
  const std::string python = R"({"filename":"d.txt","present":true,"peer":"http://p:8000"})";
  sim.answer = [&](const Sim::Asked& a) {
    return a.peer == kTitular.str() ? answered(200, python) : hit("0.0.0.0:50053");
  };
  auto r = sim.run("d.txt");
  // The suplente has an address: preferred, its wildcard replaced by the host we reached.
  CHECK(r.reply.grpc_address == "10.0.0.3:50053");
  CHECK(r.reply.via == kSuplente.str());
  sim.answer = [&](const Sim::Asked& a) {
    return a.peer == kTitular.str() ? answered(200, python) : answered(404, "{}");
  };
  r = sim.run("d.txt");
  REQUIRE(r.reply.present);
  CHECK(r.reply.grpc_address.empty());
  CHECK(r.reply.via == kTitular.str());
  CHECK(r.reply.peer == "http://p:8000");
  // Its 404 and its address-less hit are answers, not failures.
  CHECK(sim.peers.to_json(sim.now).at(0).at("failures") == 0);
  CHECK(sim.peers.to_json(sim.now).at(1).at("failures") == 0);
}

TEST_CASE("search: excluded holders are skipped, here and there, and the list travels") {
  Sim sim;
  sim.answer = [&](const Sim::Asked& a) {
    return a.peer == kTitular.str() ? hit("10.0.0.2:50052") : hit("10.0.0.3:50053");
  };
  const auto r = sim.run(SearchQuery{"here.txt", {}, {}, {}, {kLocal, "10.0.0.2:50052"}});
  CHECK(r.reply.grpc_address == "10.0.0.3:50053");
  REQUIRE(sim.asked.size() == 2);
  CHECK(sim.asked[0].q.exclude == std::vector<std::string>{kLocal, "10.0.0.2:50052"});
}

TEST_CASE("search: how a peer's answer counts") {
  using V = DistributedSearch::Verdict;
  const SearchQuery q{"d.txt", {}, {}, {}, {"10.0.0.2:9"}};
  const auto verdict = [&](const http::ClientResponse& r) {
    return DistributedSearch::classify(r, kTitular, q).verdict;
  };
  CHECK(verdict(failed(http::ClientResponse::Error::refused)) == V::failed);
  CHECK(verdict(answered(404, "")) == V::not_here);
  CHECK(verdict(miss()) == V::not_here);
  CHECK(verdict(answered(500, R"({"error":"x"})")) == V::bad_reply);
  CHECK(verdict(answered(200, "garbage")) == V::bad_reply);
  CHECK(verdict(hit("10.0.0.2:50052")) == V::hit);
  CHECK(verdict(hit("0.0.0.0:9")) == V::not_here);  // excluded once the wildcard is resolved
  CHECK(verdict(answered(200, R"({"present":true})")) == V::hit_without_address);
  const auto a = DistributedSearch::classify(answered(200, R"({"present":true})"), kTitular, q);
  CHECK(a.reply.filename == "d.txt");  // a holder that did not say is taken to have the name
  CHECK(DistributedSearch::attempt_budget(1000ms, false) == 500ms);
  CHECK(DistributedSearch::attempt_budget(1000ms, true) == 1000ms);
  CHECK(DistributedSearch::attempt_budget(150ms, false) == 100ms);
  CHECK(DistributedSearch::attempt_budget(60ms, false) == 60ms);
}
