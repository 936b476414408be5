// The shared folder as seen by transfers: open a file for reading, write an upload into a
// temporary and put it in place atomically. Every path is a single name under one folder
// descriptor and no symbolic link is ever followed, so nothing outside the folder is read
// or written whatever name arrives.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "content/manifest.hpp"
#include "core/result.hpp"

struct stat;

namespace p2p {

// Owns a file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  ~UniqueFd();
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

enum class FsError {
  invalid_name,
  not_found,
  permission_denied,
  already_exists,
  too_large,
  no_space,
  io,
};

struct FsFailure {
  FsError code;
  std::string why;
};

// The stamp of the file `st` describes (what the index and the hash cache compare).
FileStamp stamp_of(const struct stat& st);

// Maps an errno from a file operation on `name` to an FsFailure.
FsFailure fs_failure(int err, std::string_view what, std::string_view name);

// A file operation's outcome: its value, or an FsFailure whose code callers map to a status.
template <class T>
using FsResult = Result<T, FsFailure>;

struct OpenedFile {
  UniqueFd fd;
  uint64_t size = 0;
};

class SharedFolder;

// An upload in progress: a temporary file in the shared folder, removed on destruction
// unless commit() put it in place.
class TempFile {
 public:
  TempFile(TempFile&&) noexcept;
  TempFile& operator=(TempFile&&) = delete;
  ~TempFile();

  int fd() const { return fd_.get(); }
  const std::string& name() const { return name_; }

  // The stamp of what was written so far; the file keeps it when commit() renames it.
  FsResult<FileStamp> stamp() const;

  // fsync, then rename to `final_name` (refusing to replace an existing file unless
  // `overwrite`), then fsync the folder. After success the destructor removes nothing.
  FsResult<void> commit(std::string_view final_name, bool overwrite);

 private:
  friend class SharedFolder;
  TempFile(int dirfd, std::string name, UniqueFd fd);
  int dirfd_;
  std::string name_;
  UniqueFd fd_;
  bool committed_ = false;
};

class SharedFolder {
 public:
  // Throws std::system_error when the folder cannot be opened.
  explicit SharedFolder(const std::filesystem::path& folder);

  const std::filesystem::path& path() const { return path_; }

  // Opens the regular file called exactly `name` (already validated) for reading.
  FsResult<OpenedFile> open_read(std::string_view name) const;

  // True when something (file, link, directory) is called exactly `name`.
  bool exists(std::string_view name) const;

  // A new temporary file for an upload.
  FsResult<TempFile> create_temp() const;

  // Removes temporaries left by a peer that died mid-upload; returns how many.
  size_t remove_stale_temps() const;

 private:
  std::filesystem::path path_;
  UniqueFd dirfd_;
};

}  // namespace p2p
