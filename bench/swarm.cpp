#include "swarm.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "util.hpp"

namespace fs = std::filesystem;

namespace p2p::bench {
namespace {

// 300 peers start, publish and search twice in about a minute; ten are a hung swarm.
constexpr std::chrono::minutes kBound{10};

}  // namespace

boost::json::object swarm_bench(const fs::path& script, const fs::path& peer_bin,
                                const fs::path& work, const SwarmPlan& plan) {
  if (!fs::exists(script))
    throw std::runtime_error("the swarm phase needs scripts/swarm, not at " + script.string() +
                             " (give --swarm-script)");
  const fs::path out = work / "swarm.json";
  const std::string n = std::to_string(plan.peers), k = std::to_string(plan.searches);
  const std::string build = peer_bin.parent_path().string();
  std::printf("\nSwarm: %d peers, %d searches each, with the DHT and without\n", plan.peers,
              plan.searches);
  std::fflush(stdout);  // the child inherits our stdout: nothing of ours may be left in it
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    // Debian's python3, as the tests use.
    ::execl("/usr/bin/python3", "python3", script.c_str(), n.c_str(), "--searches", k.c_str(),
            "--dht", "both", "--build", build.c_str(), "--json", out.c_str(), nullptr);
    ::_exit(127);
  }
  const int status = wait_bounded(pid, kBound);
  if (status != 0)
    throw std::runtime_error(status < 0
                                 ? "scripts/swarm did not finish within 10 minutes"
                                 : "scripts/swarm failed (exit " + std::to_string(status) + ")");
  std::ifstream in(out);
  std::stringstream text;
  text << in.rdbuf();
  auto parsed = boost::json::parse(text.str());
  if (!parsed.is_object()) throw std::runtime_error("scripts/swarm wrote no figures");
  return std::move(parsed.as_object());
}

}  // namespace p2p::bench
