// The hand-over between a coroutine that fills chunk buffers (file reads on the io_context)
// and a sender that sends them one at a time on its own threads (a gRPC write reactor).
// The sender chains the next send itself when a filled buffer is waiting, so a stream
// whose reads keep ahead costs no thread hop per chunk; the filler is woken only when half
// the buffers are free again, or when everything has been sent.
// A sent buffer is free again only when the sender releases it: gRPC may still hold its
// bytes (a slice over them) after the write completed, so memory stays bounded by the
// queue's buffers whatever gRPC buffers.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "io/op_signal.hpp"

namespace p2p {

class ChunkQueue {
 public:
  ChunkQueue(asio::any_io_executor ex, int buffers, size_t buffer_size);

  int buffers() const { return buffers_; }

  // Filler: a free buffer's index, waiting for one if need be; -1 once the sender failed.
  asio::awaitable<int> acquire();
  // Filler: the memory of an acquired buffer (buffer_size bytes, allocated at first use).
  std::span<char> buffer(int i);
  // Filler: buffer i holds n bytes. Returns i when the sender is idle and must be started
  // on it now, -1 when the sender will reach it by itself.
  int submit(int i, size_t n);
  // Filler: waits until every submitted buffer was sent; false when the sender failed.
  asio::awaitable<bool> drain();
  // Filler: whether the sender failed (the receiver went away).
  bool failed() const;

  // Sender: the bytes of a submitted buffer.
  std::span<char> filled(int i) const { return {bufs_[i].get(), sizes_[i]}; }
  // Sender: the send in flight finished. Returns the next buffer to send now, or -1.
  int sent(bool ok);
  // Sender: nothing refers to buffer i's bytes any more; the filler may reuse it. From any
  // thread, also after the send finished or failed.
  void release(int i);

 private:
  bool wake_due() const;
  void wake_if_due(std::unique_lock<std::mutex>& lock);

  const int buffers_;
  const size_t buffer_size_;
  std::vector<std::unique_ptr<char[]>> bufs_;
  std::vector<size_t> sizes_;
  mutable std::mutex mu_;
  std::deque<int> free_, ready_;
  int sending_ = -1;
  bool failed_ = false;
  bool waiting_ = false;
  OpSignal wake_;
};

}  // namespace p2p
