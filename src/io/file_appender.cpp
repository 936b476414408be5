#include "io/file_appender.hpp"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write_at.hpp>
#include <cerrno>
#include <cstring>
#include <limits>
#include <new>
#include <system_error>

#include "io/in_one_call.hpp"

namespace p2p {

namespace {

// The alignment O_DIRECT asks of memory, offsets and lengths on every device we know.
constexpr size_t kDirectAlign = 4096;
static_assert(FileAppender::kStageBytes % kDirectAlign == 0);

constexpr auto use_nothrow = asio::experimental::as_tuple(asio::use_awaitable);

}  // namespace

FileAppender::Shared::Shared(asio::any_io_executor ex, int fd) : file(ex, fd) {
  for (auto& stage : stages) {
    stage = std::make_unique<Stage>(ex);
    stage->bytes.reset(static_cast<char*>(std::aligned_alloc(kDirectAlign, kStageBytes)));
    if (!stage->bytes) throw std::bad_alloc();
  }
}

FileAppender::FileAppender(asio::any_io_executor ex, int fd, std::string name, Mode mode)
    : name_(std::move(name)), shared_(std::make_shared<Shared>(std::move(ex), ::dup(fd))) {
  if (mode == Mode::direct_if_possible) set_direct(true);
}

bool FileAppender::set_direct(bool on) {
  const int fd = shared_->file.native_handle();
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, on ? flags | O_DIRECT : flags & ~O_DIRECT) != 0)
    return false;
  direct_ = on;
  return true;
}

FsResult<void> FileAppender::reserve(uint64_t bytes) {
  if (bytes == 0) return {};
  const int fd = shared_->file.native_handle();
  // fallocate takes what is free until the disk is full before it fails: ask first.
  struct statvfs fs;
  if (::fstatvfs(fd, &fs) == 0 && bytes > static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize)
    return fs_failure(ENOSPC, "no room for", name_);
  if (bytes > static_cast<uint64_t>(std::numeric_limits<off_t>::max()))
    return fs_failure(EFBIG, "no room for", name_);
  if (::fallocate(fd, 0, 0, static_cast<off_t>(bytes)) != 0) {
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
      std::memcpy(stage(filling_).bytes.get() + staged_, part.data(), n);
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
  // The tail rarely fills an aligned length: it goes through the page cache, and the
  // descriptor (shared with the caller's) is left without O_DIRECT.
  if (direct_ && !set_direct(false))
    co_return fs_failure(errno, "cannot end direct writes to", name_);
  if (staged_ > 0) {
    const asio::const_buffer tail(stage(filling_).bytes.get(), staged_);
    staged_ = 0;
    if (const auto ec = co_await write_at_end(tail))
      co_return fs_failure(ec.value(), "cannot write", name_);
  }
  if (reserved_ > written_ &&
      ::ftruncate(shared_->file.native_handle(), static_cast<off_t>(written_)) != 0)
    co_return fs_failure(errno, "cannot set the size of", name_);
  co_return FsResult<void>{};
}

// Starts writing the full stage and goes on with the next one, once its own write is done.
// The first direct write is waited for: a file system that refuses it (EINVAL) gets that
// stage, and all after it, through the page cache.
asio::awaitable<FsResult<void>> FileAppender::write_stage() {
  const int k = filling_;
  const asio::const_buffer full(stage(k).bytes.get(), staged_);
  staged_ = 0;
  if (direct_ && !proven_) {
    auto ec = co_await write_at_end(full);
    if (ec == asio::error::invalid_argument && set_direct(false)) ec = co_await write_at_end(full);
    proven_ = !ec;
    co_return ec ? fs_failure(ec.value(), "cannot write", name_) : FsResult<void>{};
  }
  in_flight_[k] = true;
  asio::async_write_at(shared_->file, written_, full, in_one_call,
                       [shared = shared_, k, want = full.size()](std::error_code ec, size_t n) {
                         Stage& s = *shared->stages[k];
                         s.error =
                             !ec && n != want ? std::make_error_code(std::errc::io_error) : ec;
                         s.written.notify(true);
                       });
  written_ += full.size();
  filling_ = (k + 1) % kStages;
  co_return co_await wait_written(filling_);
}

asio::awaitable<FsResult<void>> FileAppender::wait_written(int k) {
  if (!in_flight_[k]) co_return FsResult<void>{};
  // A wait cancelled (the caller's deadline) leaves the write in flight: the stage is not
  // to be filled again, and the appender is abandoned.
  const bool done = co_await stage(k).written.wait();
  if (!done) co_return FsFailure{FsError::io, "stopped writing '" + name_ + "'"};
  in_flight_[k] = false;
  if (const auto ec = stage(k).error) co_return fs_failure(ec.value(), "cannot write", name_);
  co_return FsResult<void>{};
}

// Writes `bytes` at the end and waits for it; a short write is EIO.
asio::awaitable<std::error_code> FileAppender::write_at_end(asio::const_buffer bytes) {
  auto [ec, n] =
      co_await asio::async_write_at(shared_->file, written_, bytes, in_one_call, use_nothrow);
  if (!ec && n != bytes.size()) ec = std::make_error_code(std::errc::io_error);
  if (!ec) written_ += n;
  co_return ec;
}

}  // namespace p2p
