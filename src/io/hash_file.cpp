#include "io/hash_file.hpp"

#include <array>
#include <asio/experimental/as_tuple.hpp>
#include <asio/read_at.hpp>
#include <asio/use_awaitable.hpp>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "io/in_one_call.hpp"

namespace p2p {
namespace {

constexpr size_t kBlock = 1 << 20;
constexpr auto use_nothrow = asio::experimental::as_tuple(asio::use_awaitable);
// Below this a second thread costs more than it saves.
constexpr uint64_t kSplitAt = 8 << 20;

// Digests the blocks it is given on a thread of its own, one at a time, while the caller
// digests the same block's pieces: the two digests then take about the time of one. The
// caller blocks only in wait(), on the hasher's own thread, never on a serving one.
class SideDigest {
 public:
  SideDigest() : thread_([this] { run(); }) {}
  ~SideDigest() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  SideDigest(const SideDigest&) = delete;
  SideDigest& operator=(const SideDigest&) = delete;

  // Until the block given last is digested (its buffer may then be reused).
  void wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return block_.empty(); });
  }
  // Digests `block` soon; its bytes stay put until wait() returns. After wait().
  void give(std::string_view block) {
    {
      std::lock_guard lock(mu_);
      block_ = block;
    }
    cv_.notify_all();
  }
  Sha256 finish() {
    wait();
    return digest_.finish();
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return !block_.empty() || stopping_; });
      if (block_.empty()) return;
      const std::string_view block = block_;
      lock.unlock();
      digest_.update(block);
      lock.lock();
      block_ = {};
      cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::string_view block_;  // empty: nothing to digest
  bool stopping_ = false;
  Sha256Hasher digest_;
  std::thread thread_;  // last: it starts once the members it uses exist
};

}  // namespace

asio::awaitable<Result<Manifest>> hash_file(asio::random_access_file& file, uint64_t size,
                                            uint64_t piece_size, const std::atomic<bool>& stop,
                                            std::atomic<uint64_t>* hashed) {
  // A large file's whole digest runs beside its pieces' on a second thread, over two blocks
  // in turn: the next is read while the side thread still digests the last.
  const bool split = size >= kSplitAt;
  std::array<std::vector<char>, 2> blocks;  // before `side`: it outlives the side's reads
  blocks[0].resize(std::min<uint64_t>(size, kBlock));
  if (split) blocks[1].resize(kBlock);
  std::optional<SideDigest> side;
  if (split) side.emplace();
  ManifestBuilder builder = split ? ManifestBuilder(piece_size, ManifestBuilder::PiecesOnly{})
                                  : ManifestBuilder(piece_size);
  uint64_t offset = 0;
  for (size_t k = 0; offset < size; ++k) {
    if (stop.load(std::memory_order_relaxed)) co_return Problem{"stopped"};
    std::vector<char>& block = blocks[split ? k % 2 : 0];
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kBlock, size - offset));
    auto [ec, got] = co_await asio::async_read_at(file, offset, asio::buffer(block.data(), n),
                                                  in_one_call, use_nothrow);
    if (ec)
      co_return Problem{ec == asio::error::eof ? "the file shrank while it was being hashed"
                                               : "cannot read: " + ec.message()};
    if (side) {
      side->wait();
      side->give({block.data(), n});
    }
    builder.update(block.data(), n);
    offset += n;
    if (hashed) hashed->fetch_add(n, std::memory_order_relaxed);
  }
  co_return split ? builder.finish(side->finish()) : builder.finish();
}

}  // namespace p2p
