// Peer: wires config, index, watcher, REST and (later) gRPC together; owns the lifecycle.
#pragma once

#include <grpcpp/server.h>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <memory>
#include <thread>

#include "core/config.hpp"
#include "http/server.hpp"
#include "index/file_index.hpp"
#include "index/folder_watcher.hpp"
#include "io/shared_folder.hpp"
#include "peer/rest_api.hpp"
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
  void start_grpc();

  Config cfg_;
  asio::io_context ctx_;
  FileIndex index_;
  FolderWatcher watcher_;
  RestApi api_;
  http::Server http_;
  SharedFolder folder_;
  FileService files_;
  std::unique_ptr<grpc::Server> grpc_;
  asio::signal_set signals_;
  std::thread stopper_;
};

}  // namespace p2p
