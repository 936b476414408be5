#include "io/file_appender.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write_at.hpp>
#include <cerrno>
#include <cstring>
#include <new>
#include <tuple>

#include "io/in_one_call.hpp"

namespace p2p {

namespace {

// The alignment O_DIRECT asks of memory, offsets and lengths on every device we know.
constexpr size_t kDirectAlign = 4096;
static_assert(FileAppender::kStageBytes % kDirectAlign == 0);

constexpr auto use_nothrow = asio::experimental::as_tuple(asio::use_awaitable);

}  // namespace

FileAppender::FileAppender(asio::any_io_executor ex, int fd, std::string name, Mode mode)
    : file_(std::move(ex), ::dup(fd)), name_(std::move(name)), stages_(std::make_shared<Stages>()) {
  for (auto& stage : *stages_) {
    stage = std::make_unique<Stage>(file_.get_executor());
    stage->bytes.reset(static_cast<char*>(std::aligned_alloc(kDirectAlign, kStageBytes)));
    if (!stage->bytes) throw std::bad_alloc();
  }
  if (mode == Mode::direct_if_possible) set_direct(true);
}

bool FileAppender::set_direct(bool on) {
  const int fd = file_.native_handle();
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, on ? flags | O_DIRECT : flags & ~O_DIRECT) != 0)
    return false;
  direct_ = on;
  return true;
}

FsResult<void> FileAppender::reserve(uint64_t bytes) {
  if (bytes == 0) return {};
  if (::fallocate(file_.native_handle(), 0, 0, static_cast<off_t>(bytes)) != 0) {
    // Not every file system can (the writes then allocate as they go).
    if (errno == EOPNOTSUPP) return {};
    return fs_failure(errno, "cannot set aside space for", name_);
  }
  reserved_ = bytes;
  return {};
}

asio::awaitable<FsResult<void>> FileAppender::append(std::span<const asio::const_buffer> parts) {
  for (asio::const_buffer part : parts) {
    while (part.size() > 0) {
      const size_t n = std::min(part.size(), kStageBytes - staged_);
      std::memcpy((*stages_)[filling_]->bytes.get() + staged_, part.data(), n);
      staged_ += n;
      part += n;
      if (staged_ < kStageBytes) continue;
      if (auto written = co_await write_stage(); !written) co_return written;
    }
  }
  co_return FsResult<void>{};
}

asio::awaitable<FsResult<void>> FileAppender::finish() {
  for (int k = 0; k < kStages; ++k)
    if (auto written = co_await wait_written(k); !written) co_return written;
  if (staged_ > 0) {
    // The tail rarely fills an aligned length: it goes through the page cache.
    if (direct_ && !set_direct(false))
      co_return fs_failure(errno, "cannot end direct writes to", name_);
    const asio::const_buffer tail((*stages_)[filling_]->bytes.get(), staged_);
    staged_ = 0;
    auto [ec, n] = co_await asio::async_write_at(file_, written_, tail, in_one_call, use_nothrow);
    if (ec) co_return fs_failure(ec.value(), "cannot write", name_);
    written_ += n;
  }
  if (reserved_ > written_ &&
      ::ftruncate(file_.native_handle(), static_cast<off_t>(written_)) != 0)
    co_return fs_failure(errno, "cannot set the size of", name_);
  co_return FsResult<void>{};
}

// Starts writing the full stage and goes on with the next one, once its own write is done.
// The first direct write is waited for: a file system that refuses it (EINVAL) gets that
// stage, and all after it, through the page cache.
asio::awaitable<FsResult<void>> FileAppender::write_stage() {
  const int k = filling_;
  const asio::const_buffer full((*stages_)[k]->bytes.get(), staged_);
  staged_ = 0;
  if (direct_ && !proven_) {
    auto [ec, n] = co_await asio::async_write_at(file_, written_, full, in_one_call, use_nothrow);
    if (ec == asio::error::invalid_argument && set_direct(false))
      std::tie(ec, n) =
          co_await asio::async_write_at(file_, written_, full, in_one_call, use_nothrow);
    if (ec) co_return fs_failure(ec.value(), "cannot write", name_);
    proven_ = true;
    written_ += n;
    co_return FsResult<void>{};
  }
  in_flight_[k] = true;
  asio::async_write_at(file_, written_, full, in_one_call,
                       [stages = stages_, k](std::error_code ec, size_t) {
                         (*stages)[k]->error = ec;
                         (*stages)[k]->written.notify(true);
                       });
  written_ += full.size();
  filling_ = (k + 1) % kStages;
  co_return co_await wait_written(filling_);
}

asio::awaitable<FsResult<void>> FileAppender::wait_written(int k) {
  if (!in_flight_[k]) co_return FsResult<void>{};
  co_await (*stages_)[k]->written.wait();
  in_flight_[k] = false;
  if (const auto ec = (*stages_)[k]->error) co_return fs_failure(ec.value(), "cannot write", name_);
  co_return FsResult<void>{};
}

}  // namespace p2p
