// Keeps a FileIndex live: inotify events on the shared folder, read through Asio, are
// gathered for a short moment and applied as one refresh.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/strand.hpp>
#include <chrono>

#include "index/file_index.hpp"

namespace p2p {

class FolderWatcher {
 public:
  // Throws std::system_error when inotify cannot watch the folder.
  FolderWatcher(asio::any_io_executor ex, FileIndex& index);

  // Watches on its own strand until stop(), which may be called from any thread: the
  // descriptor is only ever touched on that strand.
  void start();
  void stop();

  // How long events are gathered before the index is refreshed.
  static constexpr std::chrono::milliseconds kSettle{50};

 private:
  asio::awaitable<void> run();

  FileIndex& index_;
  asio::posix::stream_descriptor fd_;
};

}  // namespace p2p
