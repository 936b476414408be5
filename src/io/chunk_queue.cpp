#include "io/chunk_queue.hpp"

namespace p2p {

ChunkQueue::ChunkQueue(asio::any_io_executor ex, int buffers)
    : buffers_(buffers), wake_(std::move(ex)) {
  for (int i = 0; i < buffers; ++i) free_.push_back(i);
}

bool ChunkQueue::wake_due() const {
  return failed_ || static_cast<int>(free_.size()) * 2 >= buffers_ ||
         (sending_ < 0 && ready_.empty());
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

int ChunkQueue::submit(int i) {
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
  int next = -1;
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (sending_ >= 0) free_.push_back(sending_);
    sending_ = -1;
    if (!ok) {
      failed_ = true;
    } else if (!ready_.empty()) {
      next = sending_ = ready_.front();
      ready_.pop_front();
    }
    if (waiting_ && wake_due()) {
      waiting_ = false;
      wake = true;
    }
  }
  if (wake) wake_.notify(true);
  return next;
}

}  // namespace p2p
