// The announcement (POST /peers): a peer telling its neighbours where it is. This module owns
// its JSON body both ways, built with Boost.JSON by the announcing peer and read with
// simdjson by the one that learns it. A new field is one edit here.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace p2p {

struct Announcement {
  std::string url;           // its REST URL, http(s)://HOST:PORT
  std::string grpc_address;  // HOST:PORT
  std::string name;
  std::string id;         // its instance id, so that a peer never learns itself
  uint16_t dht_port = 0;  // its DHT node's UDP port, at the url's host; 0: none
};

// {"url":…,"grpc_address":…,"name":…,"id":…[,"dht_port":N]}
std::string announcement_body(const Announcement& a);

// Fails when the body is not a JSON object, a known field is not a string (dht_port: not a
// port number), or "url" is missing.
Result<Announcement> parse_announcement(std::string_view body);

}  // namespace p2p
