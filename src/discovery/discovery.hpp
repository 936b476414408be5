// How the search finds holders beyond its neighbours: a directory of HolderRecords by key.
// The DHT node (dht_node.hpp) is the real one; the search depends on this interface alone,
// so it is tested without a DHT.
#pragma once

#include <asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "core/metrics.hpp"
#include "discovery/holder_record.hpp"

namespace p2p {

class Discovery {
 public:
  virtual ~Discovery() = default;

  // This peer's files as they are now. Records new or changed are published, those gone
  // (or changed) withdrawn; the work is paced, never all at once. From any thread.
  virtual void publish(std::vector<HolderRecord> files) = 0;

  // Which holders a lookup keeps. Called on any thread (the DHT's own) until find returns:
  // it must not block. Required.
  using Accept = std::function<bool(const HolderRecord&)>;
  struct Found {
    std::vector<HolderRecord> holders;  // accepted, distinct by gRPC address
    size_t refused = 0;                 // valid records that `accept` refused
  };

  // Holders published under `key` (name_key_string or sha256_key_string) that `accept`
  // keeps: the lookup ends as soon as `max` are kept, or when the network has no more, or
  // at `timeout`, whichever comes first. Values that are not valid records are skipped and
  // counted. Runs on the caller's executor.
  virtual asio::awaitable<Found> find(std::string key, size_t max,
                                      std::chrono::milliseconds timeout, Accept accept) = 0;

  virtual void write_metrics(metrics::Exposition& e) const = 0;
};

}  // namespace p2p
