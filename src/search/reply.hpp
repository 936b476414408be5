// What peers send us, read with simdjson: answers to /buscar and announcements.
// /buscar Understands our peers' replies and
// the Python original's ({"filename":…,"present":…,"peer":…}, no grpc_address).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace p2p {

struct SearchReply {
  bool present = false;
  std::string grpc_address;  // empty when the peer did not say (the Python original)
  std::string filename;
  uint64_t size = 0;
  bool has_size = false;
  std::string peer;  // the Python original's "peer" field, if any
};

// nullopt (with *why) when the body is not a JSON object with a boolean "present".
std::optional<SearchReply> parse_search_reply(std::string_view body, std::string* why = nullptr);

// POST /peers: a peer announcing itself.
struct Announcement {
  std::string url;           // its REST URL, http://HOST:PORT
  std::string grpc_address;  // HOST:PORT
  std::string name;
  std::string id;  // its instance id, so that a peer never learns itself
};

std::optional<Announcement> parse_announcement(std::string_view body, std::string* why = nullptr);

}  // namespace p2p
