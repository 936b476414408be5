#include "io/chunk_queue.hpp"

namespace p2p {

ChunkQueue::ChunkQueue(asio::any_io_executor ex, int buffers, size_t buffer_size)
    : buffers_(buffers),
      buffer_size_(buffer_size),
      bufs_(buffers),
      sizes_(buffers),
      wake_(std::move(ex)) {
  for (int i = 0; i < buffers; ++i) free_.push_back(i);
}

bool ChunkQueue::wake_due() const {
  return failed_ || static_cast<int>(free_.size()) * 2 >= buffers_ ||
         (sending_ < 0 && ready_.empty());
}

void ChunkQueue::wake_if_due(std::unique_lock<std::mutex>& lock) {
  if (!waiting_ || !wake_due()) return;
  waiting_ = false;
  lock.unlock();
  wake_.notify(true);
}

asio::awaitable<int> ChunkQueue::acquire() {
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (failed_) co_return -1;
      if (!free_.empty()) {
        const int i = free_.front();
        free_.pop_front();
        co_return i;
      }
      waiting_ = true;
    }
    co_await wake_.wait();
  }
}

std::span<char> ChunkQueue::buffer(int i) {
  // Without zeroing: a read overwrites what is sent.
  if (!bufs_[i]) bufs_[i] = std::make_unique_for_overwrite<char[]>(buffer_size_);
  return {bufs_[i].get(), buffer_size_};
}

int ChunkQueue::submit(int i, size_t n) {
  sizes_[i] = n;
  std::lock_guard lock(mu_);
  if (sending_ >= 0 || failed_) {
    ready_.push_back(i);
    return -1;
  }
  sending_ = i;
  return i;
}

asio::awaitable<bool> ChunkQueue::drain() {
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (failed_) co_return false;
      if (sending_ < 0 && ready_.empty()) co_return true;
      waiting_ = true;
    }
    co_await wake_.wait();
  }
}

bool ChunkQueue::failed() const {
  std::lock_guard lock(mu_);
  return failed_;
}

int ChunkQueue::sent(bool ok) {
  std::unique_lock lock(mu_);
  int next = -1;
  sending_ = -1;
  if (!ok) {
    failed_ = true;
  } else if (!ready_.empty()) {
    next = sending_ = ready_.front();
    ready_.pop_front();
  }
  wake_if_due(lock);
  return next;
}

void ChunkQueue::release(int i) {
  std::unique_lock lock(mu_);
  free_.push_back(i);
  wake_if_due(lock);
}

}  // namespace p2p
