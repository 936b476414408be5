// The /buscar query: what a client asks and what a peer forwards to its neighbours
// (docs/design.md, section 4). This module owns its wire form both ways: the request target it is
// sent as and the query string it is read from. A new parameter is one field here.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace p2p {

// Hops a query may travel at most, whatever it or the config asks.
inline constexpr uint32_t kMaxTtl = 64;
// Holders one query may gather at most (holders=N).
inline constexpr uint32_t kMaxHolders = 16;

struct SearchQuery {
  std::string name{};             // trimmed; a valid file name once parsed; empty: by sha256 alone
  std::optional<uint32_t> ttl{};  // absent: a query from a client, which starts with cfg.ttl
  std::string qid{};              // empty: a new query, which gets a fresh id
  std::optional<std::chrono::milliseconds> budget{};  // the asker's remaining wait
  std::vector<std::string> exclude{};                 // holders (gRPC addresses) to skip
  std::optional<uint32_t> holders{};  // 1..kMaxHolders: gather that many; absent: the first will do
  std::string sha256{};               // 64 lowercase hex digits: the content asked for; empty: any
};

// "/buscar?archivo=NAME&sha256=HEX&ttl=N&qid=ID&budget_ms=N&exclude=ADDR...&holders=N",
// percent-encoded, with only the parameters the query has (a client's asks for the name and
// exclusions alone).
std::string search_target(const SearchQuery& q);

// A request's query string ("archivo=a.txt&ttl=2..."). Fails, saying what to fix (a 400's
// message), when archivo and sha256 are both missing, archivo is not a valid file name, sha256
// not 64 hex digits, ttl not 0..64, budget_ms not 0..600000, holders not 1..16, or qid not
// 1..64 letters, digits, - or _.
Result<SearchQuery> parse_search_query(std::string_view query);

// A fresh random query id (16 hex digits).
std::string new_query_id();

}  // namespace p2p
