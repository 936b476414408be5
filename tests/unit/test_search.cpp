#include <doctest/doctest.h>

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "content/manifest.hpp"
#include "content/sha256.hpp"
#include "core/metrics.hpp"
#include "discovery/discovery.hpp"
#include "discovery/holder_record.hpp"
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
constexpr const char* kLocal = "10.0.0.1:50051";           // this peer's gRPC address
constexpr const char* kLocalUrl = "http://10.0.0.1:8001";  // and its REST URL

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
// A peer may also take `takes` of simulated time, during which the others run: time then moves
// on only when every coroutine waits, to the next answer due (or the asker's deadline).
struct Sim {
  struct Asked {
    std::string peer;
    SearchQuery q;  // as the peer read it off the wire
    Clock::time_point at, deadline;
  };
  // An ask waiting for simulated time to reach `at`.
  struct Waiting {
    Clock::time_point at;
    asio::steady_timer* timer;
    bool* due;
  };

  testing::TempDir dir;
  Config cfg;
  std::unique_ptr<FileIndex> index;
  PeerSet peers{kTitular, kSuplente};
  Clock::time_point now = Clock::time_point{} + 1h;
  std::vector<Asked> asked;
  std::function<http::ClientResponse(const Asked&)> answer = [](const Asked&) { return miss(); };
  std::function<Clock::duration(const Asked&)> takes = [](const Asked&) {
    return Clock::duration::zero();
  };
  std::vector<Waiting> waiting;
  std::vector<std::string> called_off;  // peers whose ask the search cancelled
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
          const Asked a = asked.back();
          const auto ready = a.at + takes(a);
          if (ready == a.at) co_return answer(a);
          asio::steady_timer timer(co_await asio::this_coro::executor, Clock::time_point::max());
          bool due = false;
          waiting.push_back({std::min(ready, deadline), &timer, &due});
          co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
          std::erase_if(waiting, [&](const Waiting& w) { return w.timer == &timer; });
          if (!due) {
            called_off.push_back(a.peer);
            co_return failed(http::ClientResponse::Error::io);
          }
          if (ready > deadline) co_return failed(http::ClientResponse::Error::timeout);
          co_return answer(a);
        },
        [this] { return now; });
  }

  SearchOutcome run(SearchQuery q, std::string local = kLocal) {
    asio::io_context io;
    std::optional<SearchOutcome> out;
    asio::co_spawn(io, search->search(std::move(q), std::move(local), kLocalUrl),
                   [&](std::exception_ptr e, SearchOutcome r) {
                     if (e) std::rethrow_exception(e);
                     out = std::move(r);
                   });
    for (;;) {
      io.restart();
      io.poll();
      if (out) break;
      REQUIRE_FALSE(waiting.empty());  // else the search waits for nothing: it would hang
      const auto next =
          std::min_element(waiting.begin(), waiting.end(),
                           [](const Waiting& a, const Waiting& b) { return a.at < b.at; });
      now = std::max(now, next->at);
      *next->due = true;
      next->timer->cancel();
    }
    CHECK(waiting.empty());  // a search leaves no ask behind
    return *out;
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

namespace {

const HttpUrl kLearned = *parse_http_url("http://10.0.0.4:8004");

// The gRPC address each neighbour serves at, when it holds the file itself.
std::string grpc_of(const std::string& peer) {
  if (peer == kTitular.str()) return "10.0.0.2:50052";
  if (peer == kSuplente.str()) return "10.0.0.3:50053";
  return "10.0.0.4:50054";
}

// A hit from a peer that gathered holders, the first of them in the first-holder fields.
http::ClientResponse holding(std::vector<SearchHolder> holders) {
  SearchReply r{.present = true,
                .grpc_address = holders.at(0).grpc_address,
                .filename = "d.txt",
                .size = holders.at(0).size};
  r.holders = std::move(holders);
  return answered(200, search_reply_body(r));
}

// A Sim with a learned peer too, whose neighbours take `ms` each (by peer) and each hold the
// file themselves, answering as an older peer would (no holders list).
void three_holders(Sim& sim, std::function<Clock::duration(const std::string&)> ms) {
  sim.peers.learn(kLearned, grpc_of(kLearned.str()), "P4", sim.now);
  sim.takes = [ms](const Sim::Asked& a) { return ms(a.peer); };
  sim.answer = [](const Sim::Asked& a) { return hit(grpc_of(a.peer)); };
}

}  // namespace

TEST_CASE("holders: the neighbours are asked at once, each with the whole budget") {
  Sim sim;
  const auto t0 = sim.now;
  three_holders(sim, [](const std::string&) { return 400ms; });
  const auto r = sim.run(SearchQuery{.name = "d.txt", .holders = 3});
  CHECK(sim.now == t0 + 400ms);  // together, not 1200 ms one after another
  REQUIRE(sim.asked.size() == 3);
  for (const auto& a : sim.asked) {
    CHECK(a.at == t0);
    CHECK(a.deadline == t0 + 1000ms);
    CHECK(a.q.budget == 950ms);
    CHECK(a.q.holders == 3u);
    CHECK(a.q.ttl == 2u);
    CHECK(a.q.qid == sim.asked[0].q.qid);
  }
  REQUIRE(r.reply.present);
  CHECK_FALSE(r.timed_out);
  // Replies without a list (older peers) are one holder each: the peer that answered.
  REQUIRE(r.reply.holders.size() == 3);
  const std::vector<std::string> urls{kTitular.str(), kSuplente.str(), kLearned.str()};
  for (size_t i = 0; i < 3; ++i) {
    CHECK(r.reply.holders[i].url == urls[i]);
    CHECK(r.reply.holders[i].grpc_address == grpc_of(urls[i]));
  }
  // The first holder's fields are what a client that never asked for holders reads.
  CHECK(r.reply.grpc_address == r.reply.holders[0].grpc_address);
  CHECK(r.reply.via == r.reply.holders[0].url);
  CHECK(r.reply.filename == "d.txt");
}

TEST_CASE("holders: the local index is one; once N are in, the other asks are called off") {
  Sim sim;
  const auto t0 = sim.now;
  three_holders(sim, [](const std::string& peer) {
    return peer == kTitular.str() ? 100ms : peer == kSuplente.str() ? 200ms : 900ms;
  });
  const auto r = sim.run(SearchQuery{.name = "here.txt", .holders = 2});
  CHECK(sim.now == t0 + 100ms);
  REQUIRE(sim.asked.size() == 3);
  CHECK(sim.asked[0].q.holders == 1u);                                // the one still missing,
  CHECK(sim.asked[0].q.exclude == std::vector<std::string>{kLocal});  // and not this one again
  CHECK(sim.called_off == std::vector<std::string>{kSuplente.str(), kLearned.str()});
  REQUIRE(r.reply.holders.size() == 2);
  CHECK(r.reply.holders[0].grpc_address == kLocal);
  CHECK(r.reply.holders[0].url == kLocalUrl);
  CHECK(r.reply.holders[0].size == 4u);
  CHECK(r.reply.holders[1].url == kTitular.str());
  CHECK(r.reply.grpc_address == kLocal);
  CHECK(r.reply.via.empty());
  // Called off is not failed: no peer is marked down for it.
  const auto json = sim.peers.to_json(sim.now);
  for (size_t i = 0; i < 3; ++i) CHECK(json.at(i).at("failures") == 0);
}

TEST_CASE("holders: at the deadline the search answers with what it gathered") {
  Sim sim;
  const auto t0 = sim.now;
  three_holders(sim, [](const std::string& peer) {
    return peer == kTitular.str() ? 100ms : peer == kSuplente.str() ? 5000ms : 50ms;
  });
  sim.answer = [](const Sim::Asked& a) {
    return a.peer == kLearned.str() ? miss() : hit(grpc_of(a.peer));
  };
  const auto r = sim.run(SearchQuery{.name = "d.txt", .holders = 3});
  CHECK(sim.now == t0 + 1000ms);
  REQUIRE(r.reply.present);
  REQUIRE(r.reply.holders.size() == 1);
  CHECK(r.reply.holders[0].grpc_address == grpc_of(kTitular.str()));
  // Nobody at all is a miss that timed out.
  sim.answer = [](const Sim::Asked&) { return miss(); };
  sim.takes = [](const Sim::Asked&) { return 5000ms; };
  const auto none = sim.run(SearchQuery{.name = "d.txt", .holders = 3});
  CHECK_FALSE(none.reply.present);
  CHECK(none.timed_out);
  CHECK(none.reply.holders.empty());
}

TEST_CASE("holders: lists from further on are merged, each holder once") {
  Sim sim;
  sim.peers.learn(kLearned, grpc_of(kLearned.str()), "P4", sim.now);
  const SearchHolder x{"10.0.0.7:1", "http://10.0.0.7:2", 4, ""};
  const SearchHolder y{"10.0.0.8:1", "http://10.0.0.8:2", 4, ""};
  const SearchHolder z{"0.0.0.0:1", "http://10.0.0.3:2", 4, ""};  // the suplente's wildcard
  sim.answer = [&](const Sim::Asked& a) {
    if (a.peer == kTitular.str()) return holding({x, y});
    if (a.peer == kSuplente.str()) return holding({x, z, {kLocal, kLocalUrl, 4, ""}});
    // An older peer that found it one hop further names that hop in via.
    return answered(200, search_reply_body({.present = true,
                                            .grpc_address = "10.0.0.9:1",
                                            .filename = "d.txt",
                                            .via = "http://10.0.0.9:2"}));
  };
  const auto r = sim.run(SearchQuery{.name = "here.txt", .holders = 16});
  REQUIRE(sim.asked.size() == 3);
  CHECK(sim.asked[0].q.holders == 15u);
  std::vector<std::string> got, urls;
  for (const auto& h : r.reply.holders) {
    got.push_back(h.grpc_address);
    urls.push_back(h.url);
  }
  // This peer itself (excluded further on) and x are listed once.
  CHECK(got ==
        std::vector<std::string>{kLocal, "10.0.0.7:1", "10.0.0.8:1", "10.0.0.3:1", "10.0.0.9:1"});
  CHECK(urls.back() == "http://10.0.0.9:2");
}

TEST_CASE("sha256: found by content whatever its name; name and content must both match") {
  Sim sim;
  const std::string hex(64, 'c'), other(64, 'd');
  const auto e = sim.index->find("here.txt");
  REQUIRE(e);
  auto m = std::make_shared<Manifest>();
  m->size = 4;
  m->sha256 = *sha256_from_hex(hex);
  sim.index->set_manifests({{"here.txt", e->stamp(), m}});
  auto r = sim.run(SearchQuery{.sha256 = hex});
  REQUIRE(r.reply.present);
  CHECK(r.reply.filename == "here.txt");  // the holder's name for it
  CHECK(r.reply.sha256 == hex);
  CHECK(sim.run(SearchQuery{.name = "HERE.txt", .sha256 = hex}).reply.present);
  CHECK(sim.asked.empty());
  // The same name with other content is not here. A neighbour that matched the name alone (an
  // older peer) is no hit either; one that refuses a query without archivo has nothing.
  sim.answer = [&](const Sim::Asked& a) {
    if (a.peer == kSuplente.str()) return answered(400, R"({"error":"missing archivo"})");
    return answered(200, search_reply_body({.present = true,
                                            .grpc_address = "10.0.0.2:50052",
                                            .filename = "here.txt",
                                            .sha256 = hex}));
  };
  CHECK_FALSE(sim.run(SearchQuery{.name = "here.txt", .sha256 = other}).reply.present);
  REQUIRE(sim.asked.size() == 2);
  CHECK(sim.asked[0].q.sha256 == other);
  sim.asked.clear();
  r = sim.run(SearchQuery{.holders = 2, .sha256 = other});
  CHECK_FALSE(r.reply.present);
  REQUIRE(sim.asked.size() == 2);
  CHECK(sim.asked[1].q.name.empty());
  CHECK(sim.asked[1].q.sha256 == other);
  const auto json = sim.peers.to_json(sim.now);
  CHECK(json.at(0).at("failures") == 0);
  CHECK(json.at(1).at("failures") == 0);
}

TEST_CASE("holders: at most kMaxParallelAsks at a time; a later ask skips the holders found") {
  Sim sim;
  for (int i = 0; i < 10; ++i)
    sim.peers.learn(*parse_http_url("http://10.0.1." + std::to_string(i) + ":8000"), "", "L",
                    sim.now);
  const auto t0 = sim.now;
  sim.takes = [](const Sim::Asked&) { return 100ms; };
  sim.answer = [](const Sim::Asked& a) {
    if (a.peer == kTitular.str()) return hit(grpc_of(a.peer));
    return a.peer == "http://10.0.1.9:8000" ? hit("10.0.1.9:50051") : miss();
  };
  const auto r = sim.run(SearchQuery{.name = "d.txt", .holders = 2});
  REQUIRE(sim.asked.size() == 12);
  constexpr size_t kFirst = DistributedSearch::kMaxParallelAsks;
  for (size_t i = 0; i < sim.asked.size(); ++i) {
    INFO(i);
    CHECK(sim.asked[i].at == (i < kFirst ? t0 : t0 + 100ms));
    const auto& q = sim.asked[i].q;
    CHECK(q.holders == (i < kFirst ? 2u : 1u));
    if (i >= kFirst) CHECK(q.exclude == std::vector<std::string>{grpc_of(kTitular.str())});
  }
  CHECK(sim.now == t0 + 200ms);
  REQUIRE(r.reply.holders.size() == 2);
  CHECK(r.reply.holders[1].grpc_address == "10.0.1.9:50051");
}

namespace {

// The DHT as the search sees it: records by key, answered after `takes` of simulated time
// (or nothing, when that is past the timeout the search gave).
struct FakeDirectory : Discovery {
  Sim& sim;
  std::map<std::string, std::vector<HolderRecord>> records;
  Clock::duration takes{};
  // When set: the lookup goes on between asks, and has its records from then on (a lookup
  // slowed by dead nodes); an ask before then waits for it, or its own timeout.
  std::optional<Clock::time_point> ready_at;
  std::vector<std::pair<std::string, std::chrono::milliseconds>> asked;  // key, timeout
  std::vector<size_t> wanted;                                            // max of each find

  explicit FakeDirectory(Sim& s) : sim(s) { sim.search->set_discovery(this); }
  void publish(std::vector<HolderRecord>) override {}
  void write_metrics(metrics::Exposition&) const override {}
  asio::awaitable<Found> find(std::string key, size_t max, std::chrono::milliseconds timeout,
                              Accept accept) override {
    asked.emplace_back(key, timeout);
    wanted.push_back(max);
    if (ready_at) {
      const auto until = std::min<Clock::time_point>(*ready_at, sim.now + timeout);
      asio::steady_timer timer(co_await asio::this_coro::executor, Clock::time_point::max());
      bool due = false;
      sim.waiting.push_back({until, &timer, &due});
      co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
      std::erase_if(sim.waiting, [&](const Sim::Waiting& w) { return w.timer == &timer; });
      if (sim.now < *ready_at) co_return Found{};
    } else if (takes > Clock::duration::zero()) {
      asio::steady_timer timer(co_await asio::this_coro::executor, Clock::time_point::max());
      bool due = false;
      sim.waiting.push_back({sim.now + std::min<Clock::duration>(takes, timeout), &timer, &due});
      co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
      std::erase_if(sim.waiting, [&](const Sim::Waiting& w) { return w.timer == &timer; });
      if (takes > timeout) co_return Found{};
    }
    Found found;
    for (const auto& r : records[key]) {
      if (found.holders.size() == max) break;
      if (accept(r))
        found.holders.push_back(r);
      else
        ++found.refused;
    }
    co_return found;
  }
};

HolderRecord dht_holder(int i, std::string sha = {}) {
  return {"http://10.0.2." + std::to_string(i) + ":8001", "10.0.2." + std::to_string(i) + ":50051",
          "d.txt", 7, std::move(sha)};
}

}  // namespace

TEST_CASE("dht: a holder the DHT names answers the search; the neighbours are not asked") {
  Sim sim;
  FakeDirectory dht(sim);
  dht.records[name_key_string("d.txt")] = {dht_holder(1)};
  const auto r = sim.run("D.TXT ");
  REQUIRE(r.reply.present);
  CHECK(r.source == SearchOutcome::Source::dht);
  CHECK(r.reply.grpc_address == "10.0.2.1:50051");
  CHECK(r.reply.via == "http://10.0.2.1:8001");
  CHECK(r.reply.size == 7u);
  CHECK(sim.asked.empty());
  REQUIRE(dht.asked.size() == 1);
  CHECK(dht.asked[0].second == 500ms);  // half the budget: the walk keeps the rest
  CHECK(dht.wanted[0] == 1u);           // the lookup may end at the first usable holder
  metrics::Exposition e;
  sim.search->write_metrics(e);
  CHECK(e.text().find("p2p_searches_total{outcome=\"dht\"} 1\n") != std::string::npos);
}

TEST_CASE("dht: a forwarded query is answered as before, without the DHT") {
  Sim sim;
  FakeDirectory dht(sim);
  dht.records[name_key_string("d.txt")] = {dht_holder(1)};
  const auto r = sim.run(SearchQuery{"d.txt", 2, "from-a-peer", {}, {}});
  CHECK_FALSE(r.reply.present);
  CHECK(dht.asked.empty());
  CHECK(sim.asked.size() == 2);
}

TEST_CASE("dht: holders excluded, of other content, known down or this peer are skipped") {
  Sim sim;
  FakeDirectory dht(sim);
  const std::string sha(64, 'e');
  HolderRecord self = dht_holder(9, sha);
  self.grpc_address = kLocal;
  HolderRecord titular{kTitular.str(), "10.0.0.2:50052", "d.txt", 7, sha};
  dht.records[name_key_string("d.txt")] = {
      self, dht_holder(1, sha), dht_holder(2, std::string(64, 'f')), titular, dht_holder(3, sha)};
  for (int i = 0; i < 3; ++i) sim.peers.report(kTitular, false, false, sim.now);  // open
  const auto r = sim.run(
      SearchQuery{.name = "d.txt", .exclude = {"10.0.2.1:50051"}, .holders = 4, .sha256 = sha});
  REQUIRE(r.reply.present);
  REQUIRE(r.reply.holders.size() == 1);
  CHECK(r.reply.holders[0].grpc_address == "10.0.2.3:50051");
  CHECK(r.source == SearchOutcome::Source::dht);
  // One holder of four: the neighbours are asked for the rest (the titular's breaker is open).
  CHECK(sim.peers_asked() == std::vector<std::string>{kSuplente.str()});
}

TEST_CASE("dht: by content, the content's key; with holders=N, local first, then the DHT's") {
  Sim sim;
  FakeDirectory dht(sim);
  const std::string sha(64, 'a');
  dht.records[sha256_key_string(sha)] = {dht_holder(1, sha), dht_holder(2, sha)};
  const auto r = sim.run(SearchQuery{.holders = 2, .sha256 = sha});
  REQUIRE(r.reply.holders.size() == 2);
  CHECK(sim.asked.empty());
  dht.records[name_key_string("here.txt")] = {dht_holder(1), dht_holder(2)};
  const auto both = sim.run(SearchQuery{.name = "here.txt", .holders = 3});
  REQUIRE(both.reply.holders.size() == 3);
  CHECK(both.reply.holders[0].grpc_address == kLocal);
  CHECK(both.source == SearchOutcome::Source::local);
  CHECK(both.reply.holders[2].grpc_address == "10.0.2.2:50051");
  CHECK(dht.wanted.back() == 2u);  // three wanted, one here
}

TEST_CASE("dht: when the walk misses, a slow lookup gets the rest of the deadline") {
  Sim sim;
  const auto t0 = sim.now;
  FakeDirectory dht(sim);
  dht.records[name_key_string("d.txt")] = {dht_holder(1)};
  dht.ready_at = t0 + 700ms;  // past the first ask's half of the budget
  sim.answer = [](const Sim::Asked&) { return miss(); };
  const auto r = sim.run("d.txt");
  REQUIRE(r.reply.present);
  CHECK(r.source == SearchOutcome::Source::dht);
  CHECK_FALSE(r.timed_out);
  CHECK(r.reply.grpc_address == "10.0.2.1:50051");
  CHECK(sim.now == t0 + 700ms);
  REQUIRE(dht.asked.size() == 2);
  CHECK(dht.asked[0].second == 500ms);
  CHECK(dht.asked[1].second == 500ms);  // all that was left after the walk's quick misses
  CHECK(sim.asked.size() == 2);
}

TEST_CASE("dht: a miss everywhere asks the DHT again only while time is left") {
  Sim sim;
  const auto t0 = sim.now;
  FakeDirectory dht(sim);
  sim.answer = [](const Sim::Asked&) { return miss(); };
  const auto r = sim.run("nadie.txt");
  CHECK_FALSE(r.reply.present);
  CHECK(dht.asked.size() == 2);  // a lookup that ends with nothing ends the ask at once
  CHECK(sim.now == t0);
}

TEST_CASE("dht: a DHT that does not answer costs half the budget; the walk has the rest") {
  Sim sim;
  const auto t0 = sim.now;
  FakeDirectory dht(sim);
  dht.takes = 10s;
  sim.answer = [](const Sim::Asked& a) {
    return a.peer == kSuplente.str() ? hit("10.0.0.3:50053") : miss();
  };
  const auto r = sim.run("d.txt");
  REQUIRE(r.reply.present);
  CHECK(r.source == SearchOutcome::Source::neighbour);
  CHECK(r.reply.grpc_address == "10.0.0.3:50053");
  REQUIRE(sim.asked.size() == 2);
  CHECK(sim.asked[0].at == t0 + 500ms);
  CHECK(sim.asked[1].deadline == t0 + 1000ms);
}
