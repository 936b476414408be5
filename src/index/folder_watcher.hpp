// Keeps a FileIndex live: inotify events on the shared folder, read through Asio, are
// gathered for a short moment and applied as one refresh. Without an inotify instance (the
// kernel allows 128 per user by default: a host running many peers runs out) it warns once
// and rescans the folder every kPollEvery instead.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <chrono>

#include "index/file_index.hpp"

namespace p2p {

class FolderWatcher {
 public:
  // Throws std::system_error when inotify cannot watch the folder for another reason
  // than a per-user or system limit.
  FolderWatcher(asio::any_io_executor ex, FileIndex& index);

  // Watches on its own strand until stop(), which may be called from any thread: the
  // descriptor is only ever touched on that strand.
  void start();
  void stop();

  // How long events are gathered before the index is refreshed.
  static constexpr std::chrono::milliseconds kSettle{50};
  // How often the folder is rescanned when inotify is not available.
  static constexpr std::chrono::seconds kPollEvery{2};

 private:
  asio::awaitable<void> run();
  asio::awaitable<void> poll();

  FileIndex& index_;
  asio::posix::stream_descriptor fd_;  // closed when polling
  asio::steady_timer poll_timer_;
  bool stopped_ = false;  // on the strand
};

}  // namespace p2p
