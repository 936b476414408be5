// Streams a file in chunks to a sender, reading ahead (io_uring, straight into the
// sender's buffers) while earlier chunks are being sent. A few buffers, never the whole
// file.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/random_access_file.hpp>
#include <asio/read_at.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <concepts>
#include <cstdint>
#include <string>

#include "io/chunk_queue.hpp"

namespace p2p {

// A sink owns the queue's buffers: buffer(i) is the bytes of buffer i, start_send(i)
// starts sending it and returns at once. When a send ends, the sink calls queue.sent(ok)
// and starts the buffer that returns, if any.
template <class S>
concept ChunkSink = requires(S s, int i) {
  { s.buffer(i) } -> std::same_as<std::string&>;
  s.start_send(i);
};

enum class PumpResult { done, cancelled, read_error };

struct PumpOutcome {
  PumpResult result = PumpResult::done;
  uint64_t bytes = 0;  // bytes read and handed to the sink
  std::string message;
};

// `stop` ends the stream early (as cancelled) when it turns true between two chunks.
template <ChunkSink Sink>
asio::awaitable<PumpOutcome> pump_file(asio::random_access_file& file, uint64_t size,
                                       size_t chunk_size, ChunkQueue& queue, Sink& sink,
                                       const std::atomic<bool>& stop) {
  PumpOutcome out;
  while (out.bytes < size) {
    if (stop.load(std::memory_order_relaxed)) {
      co_await queue.drain();
      out.result = PumpResult::cancelled;
      co_return out;
    }
    const int i = co_await queue.acquire();
    if (i < 0) {
      out.result = PumpResult::cancelled;
      co_return out;
    }
    std::string& buf = sink.buffer(i);
    const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk_size, size - out.bytes));
    buf.resize(n);
    auto [ec, got] =
        co_await asio::async_read_at(file, out.bytes, asio::buffer(buf.data(), n),
                                     asio::experimental::as_tuple(asio::use_awaitable));
    if (ec) {
      co_await queue.drain();
      out.result = PumpResult::read_error;
      out.message = ec == asio::error::eof ? "the file shrank while it was being sent"
                                           : "read failed: " + ec.message();
      co_return out;
    }
    out.bytes += n;
    if (const int s = queue.submit(i); s >= 0) sink.start_send(s);
  }
  if (!co_await queue.drain()) out.result = PumpResult::cancelled;
  co_return out;
}

}  // namespace p2p
