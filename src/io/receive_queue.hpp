// The hand-over between a receiver that fills buffers one at a time on its own threads (a
// gRPC read reactor's OnReadDone) and a coroutine that writes them out in batches (file
// writes on the io_context). The receiver starts its next read itself while a buffer is
// free, so reading never waits for the disk; the writer is woken by the first message,
// then when half the buffers are filled, or when the stream ends.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

#include "io/op_signal.hpp"

namespace p2p {

class ReceiveQueue {
 public:
  ReceiveQueue(asio::any_io_executor ex, int buffers);

  int buffers() const { return buffers_; }

  // Writer, once: the buffer to start the first read into.
  int start();

  // Receiver: the read in flight ended (ok false: the stream ended or failed). Returns
  // the buffer to read into next, or -1 (none free yet, or the stream is over).
  int received(bool ok);

  // Writer: the filled buffers in arrival order, waiting for some if need be. An empty
  // batch means the stream is over and every buffer was handed out.
  asio::awaitable<std::vector<int>> take();

  // Writer: these buffers were written and may be filled again. Returns the buffer to
  // start a read into now (the receiver had stalled for want of one), or -1.
  int release(const std::vector<int>& batch);

 private:
  const int buffers_;
  std::mutex mu_;
  std::deque<int> free_, ready_;
  int reading_ = -1;
  uint64_t received_ = 0;
  bool ended_ = false;
  bool waiting_ = false;
  OpSignal wake_;
};

}  // namespace p2p
