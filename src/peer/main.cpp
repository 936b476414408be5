// p2p-peer: shares a folder over REST (metadata) and gRPC (bytes).
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "core/config.hpp"
#include "core/log.hpp"
#include "peer/peer.hpp"

int main(int argc, char** argv) {
  // Keep freed chunk buffers instead of returning them to the kernel on every transfer:
  // glibc's trimming halves upload speed and triples RSS (docs/design.md, section 5).
  mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
  mallopt(M_MMAP_THRESHOLD, 16 * 1024 * 1024);
  // gRPC's threads allocate what the io_context's thread frees (and back): with an arena per
  // thread, each kept its own freed chunks and a 1 GiB upload peaked at 73-120 MB of RSS;
  // two arenas: 50-53 MB in the same sittings (docs/performance.md, uploads).
  mallopt(M_ARENA_MAX, 2);
  // A peer holds a descriptor per connection: use all the system lets us.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  CLI::App app{"p2p-peer: shares a folder with the p2p-share network"};
  std::string config_path;
  app.add_option("file", config_path, "peer config file (JSON)");
  app.add_option("-c,--config", config_path, "peer config file (JSON)");
  CLI11_PARSE(app, argc, argv);
  if (config_path.empty()) {
    std::fprintf(stderr, "p2p-peer: a config file is required: p2p-peer --config peer1.json\n");
    return 2;
  }

  p2p::Config cfg;
  try {
    cfg = p2p::load_config(config_path);
  } catch (const p2p::ConfigError& e) {
    std::fprintf(stderr, "p2p-peer: %s\n", e.what());
    return 2;
  }
  p2p::log::init(cfg.name);

  try {
    p2p::Peer peer(std::move(cfg));
    return peer.run();
  } catch (const std::exception& e) {
    spdlog::critical("Cannot start: {}", e.what());
    return 1;
  }
}
