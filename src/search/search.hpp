// The distributed /buscar: the local index first, then the titular, the suplente and the
// learned peers in turn, forwarding ttl and qid, until one holds the file or the deadline
// passes.
#pragma once

#include <array>
#include <asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/metrics.hpp"
#include "http/client.hpp"
#include "index/file_index.hpp"
#include "search/peer_set.hpp"
#include "search/seen_queries.hpp"

namespace p2p {

struct SearchQuery {
  std::string name;
  std::optional<uint32_t> ttl;  // absent: a query from a client, which starts with cfg.ttl
  std::string qid;              // empty: a new query, which gets a fresh id
  std::optional<std::chrono::milliseconds> budget;  // the asker's remaining wait
  std::vector<std::string> exclude;                 // holders (gRPC addresses) to skip
};

struct SearchResult {
  bool present = false;
  std::string grpc_address;  // empty with present: a Python-original holder gave none
  std::string filename;
  uint64_t size = 0;
  bool has_size = false;
  std::string holder;  // REST URL of the peer that answered, empty when local
  std::string peer;    // the Python original's "peer" field, passed on
  bool timed_out = false;
};

class DistributedSearch {
 public:
  DistributedSearch(const Config& cfg, FileIndex& index, PeerSet& peers, http::Client& client);

  // `local_grpc_address`: this peer's gRPC address as the asker reaches it.
  asio::awaitable<SearchResult> search(SearchQuery q, std::string local_grpc_address);

  // p2p_searches_total{outcome} (local, remote, miss, timeout) and
  // p2p_search_duration_seconds{outcome}.
  void write_metrics(metrics::Exposition& e) const;

  // The query string of a forwarded /buscar (exposed for tests).
  static std::string forward_target(const std::string& name, uint32_t ttl, const std::string& qid,
                                    std::chrono::milliseconds budget,
                                    const std::vector<std::string>& exclude);

 private:
  const Config& cfg_;
  FileIndex& index_;
  PeerSet& peers_;
  http::Client& client_;
  SeenQueries seen_;

  asio::awaitable<SearchResult> find(SearchQuery q, std::string local_grpc_address);
  enum Outcome { kLocal, kRemote, kMiss, kTimeout, kOutcomes };
  std::array<metrics::DurationHistogram, kOutcomes> outcomes_;
};

// A fresh random query id (16 hex digits).
std::string new_query_id();

}  // namespace p2p
