// Writes a stream of bytes, in order, into a file being created (an upload's temporary),
// with io_uring. The bytes are gathered in four aligned stages of 256 KiB: while one fills,
// the others are written (one at a time, in order), so that receiving and writing overlap
// and a direct write is one device request per stage (not one per message). In
// Mode::direct_if_possible the stages go to the device directly (O_DIRECT) where the file system
// takes it: on one machine we measure on, copying a large upload into fresh page-cache pages ran at
// 0.3 GB/s while the device took 2.3 GB/s directly (docs/performance.md, uploads). The tail that
// does not fill a stage, everything in Mode::buffered (small uploads, mode_for) and everything on a
// file system that refuses O_DIRECT go through the page cache. Either way the caller's fsync
// (TempFile::commit) is what makes the bytes durable.
#pragma once

#include <array>
#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/random_access_file.hpp>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>

#include "io/op_signal.hpp"
#include "io/shared_folder.hpp"

namespace p2p {

class FileAppender {
 public:
  enum class Mode { direct_if_possible, buffered };

  // Bytes gathered before each write (a multiple of any device's block size), and how many
  // stages there are: while one fills, the others wait for their writes (asio runs one
  // write at a time per file, in order).
  static constexpr size_t kStageBytes = 256 << 10;
  static constexpr int kStages = 4;

  // Uploads announced at this size or less go through the page cache, and the fsync that
  // ends them writes them out in a few large requests. Where each device request is slow
  // (a virtual disk), their direct stages, written one after another, cost more than the
  // copy: a 1 MiB upload 6.6 ms against 8.3 (bench medians), 8 MiB 76 ms against 84 (`p2p
  // put`, medians of 30). On a faster device direct stages had been 0.2-0.3 ms quicker at
  // 1 MiB; the copy of so little is cheap either way (docs/performance.md, "Small uploads
  // through the page cache").
  static constexpr uint64_t kBufferedUpTo = 8 << 20;

  // How to write an upload that announced `bytes` (0: not announced).
  static Mode mode_for(uint64_t bytes) {
    return bytes != 0 && bytes <= kBufferedUpTo ? Mode::buffered : Mode::direct_if_possible;
  }

  // Appends to `fd` (not owned; duplicated, so that it shares the file's offset and flags)
  // from offset 0; `name` is for error messages.
  FileAppender(asio::any_io_executor ex, int fd, std::string name, Mode mode);

  // True while whole stages go to the device directly.
  bool direct() const { return direct_; }

  // Bytes appended so far (written, being written, or gathered in a stage).
  uint64_t size() const { return written_ + staged_; }

  // Sets aside `bytes` on the disk for what will be appended (the file's size until finish),
  // so that direct writes overwrite allocated blocks rather than extend the file. More than
  // the file system has free is refused at once (no_space), without touching the disk.
  FsResult<void> reserve(uint64_t bytes);

  // Appends `parts` one after another.
  asio::awaitable<FsResult<void>> append(std::span<const asio::const_buffer> parts);
  asio::awaitable<FsResult<void>> append(asio::const_buffer part) {
    return append(std::span<const asio::const_buffer>(&part, 1));
  }

  // Writes what is still gathered; the file then holds exactly the bytes appended. Once,
  // after the last append.
  asio::awaitable<FsResult<void>> finish();

 private:
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  struct Stage {
    explicit Stage(asio::any_io_executor ex) : written(std::move(ex)) {}
    std::unique_ptr<char, Free> bytes;  // kStageBytes, aligned
    std::error_code error;              // of its write (a short one: EIO), once `written`
    OpSignal written;
  };
  // The file and the stages. Writes in flight hold it, so that an appender dropped before
  // its end (a cancelled upload) leaves them their buffers and their descriptor until the
  // kernel is done with them.
  struct Shared {
    Shared(asio::any_io_executor ex, int fd);
    asio::random_access_file file;
    std::array<std::unique_ptr<Stage>, kStages> stages;
  };

  asio::awaitable<FsResult<void>> write_stage();
  asio::awaitable<FsResult<void>> wait_written(int stage);
  asio::awaitable<std::error_code> write_at_end(asio::const_buffer bytes);
  bool set_direct(bool on);
  Stage& stage(int k) { return *shared_->stages[k]; }

  const std::string name_;
  std::shared_ptr<Shared> shared_;
  bool direct_ = false;
  std::array<bool, kStages> in_flight_{};  // a stage being written
  int filling_ = 0;                        // the stage being filled
  size_t staged_ = 0;                      // bytes gathered in it
  bool proven_ = false;                    // a direct write succeeded: the file system takes them
  uint64_t written_ = 0;                   // bytes in the file, or being written to it
  uint64_t reserved_ = 0;                  // the file's size as reserve() set it
};

}  // namespace p2p
