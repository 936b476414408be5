// Keeps a FileIndex live: inotify events on the shared folder, read through Asio, are
// gathered for a short moment and applied as one refresh.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <chrono>

#include "index/file_index.hpp"

namespace p2p {

class FolderWatcher {
 public:
  // Throws std::system_error when inotify cannot watch the folder.
  FolderWatcher(asio::any_io_executor ex, FileIndex& index);

  // Runs until the descriptor is closed by stop().
  asio::awaitable<void> run();
  void stop();

  // How long events are gathered before the index is refreshed.
  static constexpr std::chrono::milliseconds kSettle{50};

 private:
  FileIndex& index_;
  asio::posix::stream_descriptor fd_;
};

}  // namespace p2p
