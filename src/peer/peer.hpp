// Peer: wires config, index, watcher, REST and (later) gRPC together; owns the lifecycle.
#pragma once

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <memory>

#include "core/config.hpp"
#include "http/server.hpp"
#include "index/file_index.hpp"
#include "index/folder_watcher.hpp"
#include "peer/rest_api.hpp"

namespace p2p {

class Peer {
 public:
  explicit Peer(Config cfg);
  ~Peer();

  // Binds, serves until SIGINT/SIGTERM, shuts down. Returns the process exit status.
  int run();

 private:
  void shutdown();

  Config cfg_;
  asio::io_context ctx_;
  FileIndex index_;
  FolderWatcher watcher_;
  RestApi api_;
  http::Server http_;
  asio::signal_set signals_;
};

}  // namespace p2p
