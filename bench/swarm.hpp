// The bench's swarm phase (issue 14): scripts/swarm run as a child — N real peers on
// loopback in the original's topology, every peer searching files held elsewhere with the
// DHT and with the walk alone, then a fifth killed — and its figures kept in the results.
#pragma once

#include <boost/json/object.hpp>
#include <filesystem>

namespace p2p::bench {

struct SwarmPlan {
  int peers;     // N (300 in the full run)
  int searches;  // files each peer searches (K)
};

// Runs `script` (scripts/swarm) on the p2p-peer of `peer_bin`'s folder, its table on stdout;
// the JSON it wrote. Throws when it cannot run or fails.
boost::json::object swarm_bench(const std::filesystem::path& script,
                                const std::filesystem::path& peer_bin,
                                const std::filesystem::path& work, const SwarmPlan& plan);

}  // namespace p2p::bench
