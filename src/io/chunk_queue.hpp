// The hand-over between a coroutine that fills chunk buffers (file reads on the io_context)
// and a sender that sends them one at a time on its own threads (a gRPC write reactor).
// The sender chains the next send itself when a filled buffer is waiting, so a stream
// whose reads keep ahead costs no thread hop per chunk; the filler is woken only when half
// the buffers are free again, or when everything has been sent.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <deque>
#include <mutex>

#include "io/op_signal.hpp"

namespace p2p {

class ChunkQueue {
 public:
  ChunkQueue(asio::any_io_executor ex, int buffers);

  int buffers() const { return buffers_; }

  // Filler: a free buffer's index, waiting for one if need be; -1 once the sender failed.
  asio::awaitable<int> acquire();
  // Filler: buffer i is filled. Returns i when the sender is idle and must be started on it
  // now, -1 when the sender will reach it by itself.
  int submit(int i);
  // Filler: waits until every submitted buffer was sent; false when the sender failed.
  asio::awaitable<bool> drain();
  // Filler: whether the sender failed (the receiver went away).
  bool failed() const;

  // Sender: the send in flight finished. Returns the next buffer to send now, or -1.
  int sent(bool ok);

 private:
  bool wake_due() const;

  const int buffers_;
  mutable std::mutex mu_;
  std::deque<int> free_, ready_;
  int sending_ = -1;
  bool failed_ = false;
  bool waiting_ = false;
  OpSignal wake_;
};

}  // namespace p2p
