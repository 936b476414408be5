// The distributed /buscar: the local index first, then the titular, the suplente and the
// learned peers in turn, forwarding ttl and qid, until one holds the file or the deadline
// passes. With holders=N it asks them all at once instead, gathering distinct holders until N
// are in. It owns the walk and the budget split; the messages are search/query.* and
// search/reply.*, peer health is search/peer_set.*. How one peer is asked and what time it is
// are injected, so the walk runs in simulated time in tests.
#pragma once

#include <array>
#include <asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "core/config.hpp"
#include "core/metrics.hpp"
#include "core/uri.hpp"
#include "discovery/discovery.hpp"
#include "http/client.hpp"
#include "index/file_index.hpp"
#include "search/peer_set.hpp"
#include "search/query.hpp"
#include "search/reply.hpp"
#include "search/seen_queries.hpp"

namespace p2p {

// What a search came to: the reply the asker gets, whether the deadline cut it short, and
// where its (first) holder came from.
struct SearchOutcome {
  enum class Source { none, local, dht, neighbour };
  SearchReply reply;
  bool timed_out = false;
  Source source = Source::none;
};

class DistributedSearch {
 public:
  using Clock = std::chrono::steady_clock;
  // One exchange with one peer: GET `target` from `peer`, answered by `deadline`. Arguments
  // by value, so a coroutine owns them.
  using AskPeer = std::function<asio::awaitable<http::ClientResponse>(
      HttpUrl peer, std::string target, Clock::time_point deadline)>;
  using Now = std::function<Clock::time_point()>;

  DistributedSearch(const Config& cfg, FileIndex& index, PeerSet& peers, AskPeer ask,
                    Now now = Clock::now);
  // Asks peers through `client`, in real time.
  DistributedSearch(const Config& cfg, FileIndex& index, PeerSet& peers, http::Client& client);

  // `local_grpc_address`, `local_url`: this peer's gRPC address and REST URL as the asker
  // reaches it (the URL is read only with holders=N). A holders=N search runs its asks on the
  // caller's executor (a connection's strand).
  asio::awaitable<SearchOutcome> search(SearchQuery q, std::string local_grpc_address,
                                        std::string local_url);

  // Where holders beyond the neighbours are looked up (the DHT) for the queries this peer is
  // asked first (not those forwarded to it); none: the walk alone. Set before searches run.
  void set_discovery(Discovery* discovery) { discovery_ = discovery; }

  // p2p_searches_total{outcome} (local, dht, remote, miss, timeout) and
  // p2p_search_duration_seconds{outcome}.
  void write_metrics(metrics::Exposition& e) const;

  // How one peer's answer counts.
  enum class Verdict { failed, not_here, bad_reply, hit, hit_without_address };
  struct Answer {
    Verdict verdict;
    SearchReply reply;  // with hit and hit_without_address
    std::string why;    // with bad_reply
  };
  // `response` from `peer` to `q`; a hit on an excluded holder (or on other content than
  // q.sha256) is not_here. With q.holders, a hit's holders are those it listed that count (a
  // reply without a list, from an older peer, is one holder: itself), the first of them in the
  // first-holder fields.
  static Answer classify(const http::ClientResponse& response, const HttpUrl& peer,
                         const SearchQuery& q);

  // The time a peer may take: each but the last gets half of what is left (at least 100 ms),
  // so a hung titular leaves time for the suplente.
  static std::chrono::milliseconds attempt_budget(std::chrono::milliseconds left, bool last);

  // Peers a holders=N search asks at the same time, at most.
  static constexpr size_t kMaxParallelAsks = 8;

 private:
  asio::awaitable<SearchOutcome> find(SearchQuery q, std::string local_grpc_address,
                                      std::string local_url);
  std::optional<SearchReply> answer_locally(const SearchQuery& q, std::string local_grpc_address,
                                            std::string local_url);
  bool already_seen(const SearchQuery& q, Clock::time_point now);
  // Holders under q's key in the directory, added to `found` (up to `want`): those that are
  // well-formed, not excluded, of q's content, and not known down. Within half of what is
  // left before `deadline`, or all of it when `last`.
  asio::awaitable<void> ask_directory(const SearchQuery& q, Clock::time_point deadline,
                                      const std::string& local_grpc_address, SearchReply& found,
                                      size_t want, bool last);
  asio::awaitable<SearchOutcome> ask_peers(const SearchQuery& q, uint32_t ttl,
                                           Clock::time_point start, Clock::time_point deadline);
  // holders=N: every allowed peer at once (kMaxParallelAsks at a time), adding to `found`.
  asio::awaitable<SearchOutcome> gather(const SearchQuery& q, uint32_t ttl, Clock::time_point start,
                                        Clock::time_point deadline, SearchReply found);
  // By value: a gather runs it as a coroutine of its own.
  asio::awaitable<Answer> ask_one(HttpUrl peer, SearchQuery q, Clock::time_point deadline);

  const Config& cfg_;
  FileIndex& index_;
  PeerSet& peers_;
  AskPeer ask_;
  Now now_;
  SeenQueries seen_;
  Discovery* discovery_ = nullptr;

  enum Outcome { kLocal, kDht, kRemote, kMiss, kTimeout, kOutcomes };
  std::array<metrics::DurationHistogram, kOutcomes> outcomes_;
};

}  // namespace p2p
