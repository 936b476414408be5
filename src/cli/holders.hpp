// Which holders a download uses: those a search found, grouped by the content they have
// (its SHA-256), so one download never mixes two different files that share a name.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace p2p::cli {

// One holder a search found.
struct Holder {
  std::string grpc_address;
  std::string name;    // its name for the file
  std::string sha256;  // 64 lowercase hex digits; empty: it has not hashed the file yet
};

struct OtherContent {
  std::string sha256;
  size_t holders = 0;
};

struct ContentChoice {
  std::string sha256;                // empty: no holder has hashed it, so nothing can be verified
  std::vector<Holder> holders;       // the holders of that content (unhashed: every holder found)
  std::vector<OtherContent> others;  // what the other hashed holders have, most held first
};

// Holders without a gRPC address are skipped, and one address counts once. `wanted` (hex,
// any case) keeps the holders of that content, or fails saying what was found instead;
// without it the content most holders have wins (a tie: the one found first, the nearest).
Result<ContentChoice> choose_content(const std::vector<Holder>& found, std::string_view wanted);

// The one warning line for holders that disagree ("" when none do): "2 holders have a
// different file under this name: sha256 HEX; use --sha256 to choose".
std::string disagreement(const ContentChoice& choice);

}  // namespace p2p::cli
