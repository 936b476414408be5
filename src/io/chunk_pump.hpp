// Streams a file, or a range of it, in chunks to a sender, reading ahead (io_uring, straight
// into the queue's buffers, which the sender hands on without a copy) while earlier chunks
// are being sent, at most at a token bucket's rate. A few buffers, never the whole file.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/random_access_file.hpp>
#include <asio/read_at.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <span>
#include <string>

#include "core/token_bucket.hpp"
#include "io/chunk_queue.hpp"

namespace p2p {

// start_send(i) starts sending queue.filled(i) and returns at once. When a send ends, the
// sink calls queue.sent(ok) and starts the buffer that returns, if any; once nothing refers
// to the bytes any more, it calls queue.release(i).
template <class S>
concept ChunkSink = requires(S s, int i) {
  s.start_send(i);
};

enum class PumpResult { done, cancelled, read_error };

struct PumpOutcome {
  PumpResult result = PumpResult::done;
  uint64_t bytes = 0;  // bytes read and handed to the sink
  std::string message;
  std::chrono::steady_clock::duration paced{};  // waited for the rate limit
};

// Waits `d` for the rate limit in short slices, so that `stopped()` (a stop, a receiver
// gone) is noticed within one; false when it ended the wait.
template <class Stopped>
asio::awaitable<bool> pace_wait(asio::steady_timer& timer, std::chrono::steady_clock::duration d,
                                Stopped stopped) {
  constexpr std::chrono::steady_clock::duration kSlice = std::chrono::milliseconds(100);
  const auto until = std::chrono::steady_clock::now() + d;
  for (auto left = d; left > left.zero(); left = until - std::chrono::steady_clock::now()) {
    if (stopped()) co_return false;
    timer.expires_after(std::min(left, kSlice));
    co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  }
  co_return !stopped();
}

// Sends bytes [offset, offset + length) of `file` (the caller has clipped the range to the
// file). `stop` ends the stream early (as cancelled) when it turns true between two chunks.
// `pace`, when set, is consulted before each chunk is sent: the pump waits on a timer, never
// blocking a thread.
template <ChunkSink Sink>
asio::awaitable<PumpOutcome> pump_file(asio::random_access_file& file, uint64_t offset,
                                       uint64_t length, size_t chunk_size, ChunkQueue& queue,
                                       Sink& sink, const std::atomic<bool>& stop,
                                       TokenBucket* pace = nullptr) {
  PumpOutcome out;
  asio::steady_timer timer(file.get_executor());
  while (out.bytes < length) {
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
    const std::span<char> buf = queue.buffer(i);
    const size_t n = std::min<uint64_t>({chunk_size, buf.size(), length - out.bytes});
    auto [ec, got] =
        co_await asio::async_read_at(file, offset + out.bytes, asio::buffer(buf.data(), n),
                                     asio::experimental::as_tuple(asio::use_awaitable));
    if (ec) {
      co_await queue.drain();
      out.result = PumpResult::read_error;
      out.message = ec == asio::error::eof ? "the file shrank while it was being sent"
                                           : "read failed: " + ec.message();
      co_return out;
    }
    using Duration = std::chrono::steady_clock::duration;
    if (const Duration wait = pace ? pace->reserve(n, TokenBucket::Clock::now()) : Duration{};
        wait > Duration::zero()) {
      out.paced += wait;
      // (No co_await inside a condition: g++ 12 miscompiles it in a coroutine.)
      const bool waited = co_await pace_wait(
          timer, wait, [&] { return stop.load(std::memory_order_relaxed) || queue.failed(); });
      if (!waited) {
        co_await queue.drain();
        out.result = PumpResult::cancelled;
        co_return out;
      }
    }
    out.bytes += n;
    if (const int s = queue.submit(i, n); s >= 0) sink.start_send(s);
  }
  if (!co_await queue.drain()) out.result = PumpResult::cancelled;
  co_return out;
}

}  // namespace p2p
