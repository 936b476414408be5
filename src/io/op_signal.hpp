// Carries a completion that arrives on another thread (a gRPC reactor's OnReadDone, say)
// to the coroutine on the io_context that waits for it.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/use_awaitable.hpp>

namespace p2p {

class OpSignal {
 public:
  explicit OpSignal(asio::any_io_executor ex) : channel_(std::move(ex), 1) {}

  // From any thread; at most one operation is outstanding, so the slot is always free.
  void notify(bool ok) { channel_.try_send(std::error_code{}, ok); }

  // The next notified value; false also when the signal was closed.
  asio::awaitable<bool> wait() {
    auto [ec, ok] =
        co_await channel_.async_receive(asio::experimental::as_tuple(asio::use_awaitable));
    co_return !ec && ok;
  }

 private:
  asio::experimental::concurrent_channel<void(std::error_code, bool)> channel_;
};

}  // namespace p2p
