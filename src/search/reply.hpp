// The /buscar reply (docs/design.md, section 4): this module owns its JSON both ways, built with
// Boost.JSON by the peer that answers and read with simdjson by the peer or client that
// asked. It reads our peers' replies and the Python original's
// ({"filename":…,"present":…,"peer":…}, no grpc_address). A new field is one edit here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace p2p {

// One peer that holds the file, as a holders=N search lists it.
struct SearchHolder {
  std::string grpc_address{};
  std::string url{};  // its REST URL
  std::optional<uint64_t> size{};
  std::string sha256{};  // 64 lowercase hex digits once hashed
};

struct SearchReply {
  bool present = false;
  std::string grpc_address{};  // empty with present: a Python-original holder gave none
  std::string filename{};
  std::optional<uint64_t> size{};
  std::string sha256{};  // 64 lowercase hex digits once the holder has hashed the file
  std::string via{};     // REST URL of the neighbour the hit came through; empty when local
  std::string peer{};    // the Python original's "peer" field, passed on
  // With holders=N: every distinct holder gathered, the one above first. Empty otherwise, and
  // then the reply is what it was before holders existed.
  std::vector<SearchHolder> holders{};
};

// {"present":false} for a miss; a hit with the fields it has (filename, grpc_address, size,
// sha256, via, peer, holders), in that order; a holder with its grpc_address, url, size and
// sha256.
std::string search_reply_body(const SearchReply& r);

// Fails when the body is not a JSON object with a boolean "present". Fields of the wrong type
// (and a sha256 that is not 64 hex digits, a holder that is not an object or has no
// grpc_address) are ignored, as a reply from another implementation may carry them.
Result<SearchReply> parse_search_reply(std::string_view body);

}  // namespace p2p
