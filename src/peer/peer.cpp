#include "peer/peer.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <spdlog/spdlog.h>

#include <csignal>
#include <thread>
#include <vector>

#include "core/uri.hpp"

namespace p2p {

Peer::Peer(Config cfg)
    : cfg_(std::move(cfg)),
      ctx_(static_cast<int>(cfg_.threads)),
      index_(cfg_.directory),
      watcher_(ctx_.get_executor(), index_),
      api_(cfg_, index_),
      http_(ctx_, [this](http::Request& req) { return api_.handle(req); },
            http::ServerLimits{.idle_timeout = std::chrono::milliseconds(cfg_.http_idle_timeout_ms),
                               .max_connections = cfg_.max_http_connections}),
      signals_(ctx_, SIGINT, SIGTERM) {}

Peer::~Peer() = default;

int Peer::run() {
  spdlog::info("Config file: {}", cfg_.source);
  for (const auto& f : cfg_.unknown_fields)
    spdlog::warn("Config {}: unknown field '{}' ignored", cfg_.source, f);

  index_.rescan();
  spdlog::info("Sharing folder {}: {} files", cfg_.directory.string(),
               index_.snapshot()->files.size());

  const auto rest = http_.listen(cfg_.ip, cfg_.rest_port);
  spdlog::info("REST server listening on {}", host_port(rest.address().to_string(), rest.port()));
  spdlog::info("Peer titular: {}; peer suplente: {}",
               cfg_.peer_titular ? cfg_.peer_titular->str() : "none",
               cfg_.peer_suplente ? cfg_.peer_suplente->str() : "none");

  asio::co_spawn(ctx_, watcher_.run(), asio::detached);
  http_.start();
  signals_.async_wait([this](const std::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("Received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    shutdown();
  });

  std::vector<std::thread> extra;
  for (uint32_t i = 1; i < cfg_.threads; ++i) extra.emplace_back([this] { ctx_.run(); });
  ctx_.run();
  for (auto& t : extra) t.join();
  spdlog::info("Stopped");
  return 0;
}

void Peer::shutdown() {
  api_.set_shutting_down();
  http_.stop();
  watcher_.stop();
  ctx_.stop();
}

}  // namespace p2p
