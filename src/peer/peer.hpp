// Peer: wires config, index, watcher, search, REST and gRPC together; owns the lifecycle.
#pragma once

#include <grpcpp/server.h>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <atomic>
#include <memory>
#include <thread>

#include "core/config.hpp"
#include "http/client.hpp"
#include "http/server.hpp"
#include "index/file_index.hpp"
#include "index/folder_watcher.hpp"
#include "io/shared_folder.hpp"
#include "peer/hasher.hpp"
#include "peer/rest_api.hpp"
#include "search/peer_set.hpp"
#include "search/search.hpp"
#include "transfer/file_service.hpp"

namespace p2p {

class Peer {
 public:
  explicit Peer(Config cfg);
  ~Peer();

  // Binds, serves until SIGINT/SIGTERM, shuts down. Returns the process exit status.
  int run();

 private:
  void shutdown();
  // Lets transfers in flight finish within the grace period, then stops the servers and
  // the io_context.
  asio::awaitable<void> drain_and_stop();
  // Returns once no transfer runs or `bound` has passed.
  asio::awaitable<void> transfers_end(std::chrono::milliseconds bound);
  void start_grpc();
  // Tells the titular and suplente about this peer, at start and every kAnnounceEvery.
  asio::awaitable<void> announce();
  // Everything GET /metrics shows besides the REST counters (RestApi writes those).
  void write_metrics(metrics::Exposition& e) const;

  Config cfg_;
  asio::io_context ctx_;
  FileIndex index_;
  FolderWatcher watcher_;
  const std::string instance_id_;
  http::Client client_;
  PeerSet peers_;
  DistributedSearch search_;
  RestApi api_;
  http::Server http_;
  SharedFolder folder_;
  Hasher hasher_;
  FileService files_;
  std::unique_ptr<grpc::Server> grpc_;
  asio::ip::tcp::endpoint rest_endpoint_;
  uint16_t grpc_port_ = 0;
  std::atomic<bool> stopping_{false};
  asio::signal_set signals_;
  // Only for grpc::Server::Shutdown, which blocks until the calls in flight end (and those
  // need the io_context running).
  std::thread grpc_shutdown_;
};

}  // namespace p2p
