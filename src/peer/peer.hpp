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
#include "peer/http_files.hpp"
#include "peer/rest_api.hpp"
#include "search/peer_set.hpp"
#include "search/search.hpp"
#include "transfer/file_service.hpp"

namespace p2p {

class DhtNode;

class Peer {
 public:
  explicit Peer(Config cfg);
  ~Peer();

  // Binds, serves until SIGINT/SIGTERM, shuts down. Returns the process exit status.
  int run();

 private:
  // On SIGINT or SIGTERM (`sig`): refuses new work, then drains and stops.
  void shutdown(int sig);
  // Lets transfers in flight finish within the grace period, then stops the servers and
  // the io_context.
  asio::awaitable<void> drain_and_stop();
  // Returns once no transfer runs or `bound` has passed.
  asio::awaitable<void> transfers_end(std::chrono::milliseconds bound);
  void start_grpc();
  // Tells the titular and suplente about this peer, at start and every kAnnounceEvery, and
  // joins the DHT through theirs.
  asio::awaitable<void> announce();
  // The DHT node (config dht), joined through dht_bootstrap; the search asks it.
  void start_dht();
  // Joins the DHT through the node at host:port (a neighbour's), when this peer runs one.
  void join_dht(const std::string& host, uint16_t port);
  // Joins the DHT through the node a neighbour's /health names, if any.
  asio::awaitable<void> join_dht_of(HttpUrl neighbour);
  // This peer's DHT node's port; 0: none.
  uint16_t dht_port() const;
  // Keeps what the DHT says about this peer's files in step with the index.
  asio::awaitable<void> publish_files();
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
  HttpFiles http_files_;  // /archivos/: the same transfers over HTTP
  std::unique_ptr<grpc::Server> grpc_;
  std::unique_ptr<DhtNode> dht_;  // none when built without it or off in the config
  asio::ip::tcp::endpoint rest_endpoint_;
  uint16_t grpc_port_ = 0;
  std::atomic<bool> stopping_{false};
  asio::signal_set signals_;
  // Only for grpc::Server::Shutdown, which blocks until the calls in flight end (and those
  // need the io_context running).
  std::thread grpc_shutdown_;
};

}  // namespace p2p
