// The bench's HTTP phase (issue 15): GET /archivos/ of a large page-cached file with curl,
// against nginx (sendfile on) serving the same file in the same run; many small GETs at
// 100 connections against nginx's static file; what the web page's first load costs.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>

namespace p2p::bench {

struct HttpPlan {
  uint64_t file_bytes;  // the large download (1 GiB in the full run)
  int rounds;           // downloads of each server, alternated (medians reported)
  std::chrono::milliseconds small_duration;
  int concurrency;  // of the small GETs
};

boost::json::object http_bench(const std::filesystem::path& peer_bin,
                               const std::filesystem::path& work, const HttpPlan& plan);

}  // namespace p2p::bench
