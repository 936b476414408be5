// The bench's content phase (issue 12): hashing against `openssl dgst -sha256`, a restart over
// many unchanged files, verified against unverified downloads, one to three capped holders,
// and a resumed download.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <filesystem>

namespace p2p::bench {

struct ContentPlan {
  uint64_t hash_bytes;   // the file hashed (1 GiB in the full run)
  int hash_runs;         // median over these
  int restart_files;     // unchanged files a restarting peer must not read
  uint64_t swarm_bytes;  // the file downloaded from 1, 2, 3 holders
  int swarm_runs;        // median over these
  uint64_t holder_rate;  // max_upload_rate of each capped holder, bytes/s
};

// Runs the phase with peers under `work`, printing its table; the JSON rows.
boost::json::object content_bench(const std::filesystem::path& peer_bin,
                                  const std::filesystem::path& work, const ContentPlan& plan);

}  // namespace p2p::bench
