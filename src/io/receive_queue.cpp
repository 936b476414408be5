#include "io/receive_queue.hpp"

namespace p2p {

ReceiveQueue::ReceiveQueue(asio::any_io_executor ex, int buffers)
    : buffers_(buffers), wake_(std::move(ex)) {
  for (int i = 0; i < buffers; ++i) free_.push_back(i);
}

int ReceiveQueue::start() {
  std::lock_guard lock(mu_);
  reading_ = free_.front();
  free_.pop_front();
  return reading_;
}

int ReceiveQueue::received(bool ok) {
  int next = -1;
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (ok) {
      ready_.push_back(reading_);
      ++received_;
    } else {
      free_.push_back(reading_);
      ended_ = true;
    }
    reading_ = -1;
    if (ok && !free_.empty()) {
      next = reading_ = free_.front();
      free_.pop_front();
    }
    // The first message names the file and is checked at once; later ones are batched.
    if (waiting_ && (ended_ || received_ == 1 || static_cast<int>(ready_.size()) * 2 >= buffers_ ||
                     reading_ < 0)) {
      waiting_ = false;
      wake = true;
    }
  }
  if (wake) wake_.notify(true);
  return next;
}

asio::awaitable<std::vector<int>> ReceiveQueue::take() {
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (!ready_.empty() || ended_) {
        std::vector<int> batch(ready_.begin(), ready_.end());
        ready_.clear();
        co_return batch;
      }
      waiting_ = true;
    }
    co_await wake_.wait();
  }
}

int ReceiveQueue::release(const std::vector<int>& batch) {
  std::lock_guard lock(mu_);
  for (int i : batch) free_.push_back(i);
  if (reading_ >= 0 || ended_ || free_.empty()) return -1;
  reading_ = free_.front();
  free_.pop_front();
  return reading_;
}

}  // namespace p2p
