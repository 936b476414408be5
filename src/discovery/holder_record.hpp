// What a peer publishes in the DHT for each file it shares, and the keys it publishes it
// under. No DHT here: the format and its checks are plain code, testable and fuzzable alone.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace p2p {

// One holder of one file, as the DHT carries it: a claim by whoever put it, not a fact.
struct HolderRecord {
  std::string url;           // the holder's REST URL, http(s)://host:port
  std::string grpc_address;  // host:port of its gRPC server
  std::string name;          // the file's name there
  uint64_t size = 0;
  std::string sha256;  // 64 lowercase hex digits; empty while not hashed

  bool operator==(const HolderRecord&) const = default;
};

// The value's bytes: small JSON, at most kMaxRecordBytes.
std::string encode_record(const HolderRecord& r);
inline constexpr size_t kMaxRecordBytes = 1024;

// The record in `bytes`, or why it is not one a search may use: not JSON, a field missing or
// of the wrong type, a URL that is not http(s)://host:port, a gRPC address that is not a
// connectable host:port, a name the name rules refuse, a sha256 that is not 64 hex digits.
Result<HolderRecord> decode_record(std::string_view bytes);

// The DHT keys (before hashing): of a name (its lookup key, so "Doc.PDF " and "doc.pdf" meet)
// and of a content.
std::string name_key_string(std::string_view name);
std::string sha256_key_string(std::string_view sha256_hex);

}  // namespace p2p
