#include "io/hash_file.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/read_at.hpp>
#include <asio/use_awaitable.hpp>
#include <string>
#include <vector>

namespace p2p {
namespace {

constexpr size_t kBlock = 1 << 20;
constexpr auto use_nothrow = asio::experimental::as_tuple(asio::use_awaitable);

}  // namespace

asio::awaitable<Result<Manifest>> hash_file(asio::random_access_file& file, uint64_t size,
                                            uint64_t piece_size, const std::atomic<bool>& stop,
                                            std::atomic<uint64_t>* hashed) {
  ManifestBuilder builder(piece_size);
  std::vector<char> block(std::min<uint64_t>(size, kBlock));
  uint64_t offset = 0;
  while (offset < size) {
    if (stop.load(std::memory_order_relaxed)) co_return Problem{"stopped"};
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kBlock, size - offset));
    auto [ec, got] =
        co_await asio::async_read_at(file, offset, asio::buffer(block.data(), n), use_nothrow);
    if (ec)
      co_return Problem{ec == asio::error::eof ? "the file shrank while it was being hashed"
                                               : "cannot read: " + ec.message()};
    builder.update(block.data(), n);
    offset += n;
    if (hashed) hashed->fetch_add(n, std::memory_order_relaxed);
  }
  co_return builder.finish();
}

}  // namespace p2p
