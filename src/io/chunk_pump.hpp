// Streams a file in chunks to a sink, reading chunk k+1 (io_uring, straight into the
// sink's buffer) while the sink sends chunk k. Two buffers, never the whole file.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/random_access_file.hpp>
#include <asio/read_at.hpp>
#include <asio/use_awaitable.hpp>
#include <concepts>
#include <cstdint>
#include <string>

namespace p2p {

// A sink owns two buffers. start_write(i) hands buffer i over and returns at once;
// write_done() completes when the buffer handed over last has been sent (false: the
// receiver is gone). The pump never touches a buffer the sink still holds.
template <class S>
concept ChunkSink = requires(S s, int i) {
  { s.buffer(i) } -> std::same_as<std::string&>;
  s.start_write(i);
  { s.write_done() } -> std::same_as<asio::awaitable<bool>>;
};

enum class PumpResult { done, cancelled, read_error };

struct PumpOutcome {
  PumpResult result = PumpResult::done;
  uint64_t bytes = 0;  // bytes handed to the sink and confirmed sent
  std::string message;
};

template <ChunkSink Sink>
asio::awaitable<PumpOutcome> pump_file(asio::random_access_file& file, uint64_t size,
                                       size_t chunk_size, Sink& sink) {
  PumpOutcome out;
  uint64_t offset = 0;   // next byte to read
  size_t in_flight = 0;  // bytes handed to the sink and not yet confirmed
  int cur = 0;
  // Waits for the chunk in flight; false when the receiver is gone.
  auto settle = [&]() -> asio::awaitable<bool> {
    if (in_flight == 0) co_return true;
    const bool ok = co_await sink.write_done();
    if (ok) out.bytes += in_flight;
    in_flight = 0;
    co_return ok;
  };
  while (offset < size) {
    std::string& buf = sink.buffer(cur);
    const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk_size, size - offset));
    buf.resize(n);
    auto [ec, got] =
        co_await asio::async_read_at(file, offset, asio::buffer(buf.data(), n),
                                     asio::experimental::as_tuple(asio::use_awaitable));
    if (ec) {
      co_await settle();
      out.result = PumpResult::read_error;
      out.message = ec == asio::error::eof ? "the file shrank while it was being sent"
                                           : "read failed: " + ec.message();
      co_return out;
    }
    if (!co_await settle()) {
      out.result = PumpResult::cancelled;
      co_return out;
    }
    sink.start_write(cur);
    in_flight = n;
    offset += n;
    cur ^= 1;
  }
  if (!co_await settle()) out.result = PumpResult::cancelled;
  co_return out;
}

}  // namespace p2p
