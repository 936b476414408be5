#include "io/shared_folder.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <system_error>

#include "core/names.hpp"

namespace p2p {

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

FileStamp stamp_of(const struct stat& st) {
  return {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
          static_cast<uint64_t>(st.st_size),
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

FsFailure fs_failure(int err, std::string_view what, std::string_view name) {
  std::string msg = std::string(what) + " '" + std::string(name) + "': " + std::strerror(err);
  switch (err) {
    case ENOENT:
      return {FsError::not_found, std::move(msg)};
    case EACCES:
    case EPERM:
    case EROFS:
      return {FsError::permission_denied, std::move(msg)};
    case EEXIST:
    case ENOTEMPTY:
      return {FsError::already_exists, std::move(msg)};
    case ENOSPC:
    case EDQUOT:
      return {FsError::no_space, std::move(msg)};
    case EFBIG:
      return {FsError::too_large, std::move(msg)};
    default:
      return {FsError::io, std::move(msg)};
  }
}

SharedFolder::SharedFolder(const std::filesystem::path& folder)
    : path_(folder), dirfd_(::open(folder.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)) {
  if (!dirfd_) throw std::system_error(errno, std::generic_category(), "open " + folder.string());
}

FsResult<OpenedFile> SharedFolder::open_read(std::string_view name) const {
  const std::string n(name);
  // O_NONBLOCK: opening a FIFO or a device someone left in the folder must not block;
  // only regular files are served (checked below), for which the flag changes nothing.
  const int fd =
      ::openat(dirfd_.get(), n.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ELOOP)
      return FsFailure{FsError::permission_denied, "'" + n + "' is a symbolic link; not served"};
    if (errno == ENOENT) return FsFailure{FsError::not_found, "no such file: '" + n + "'"};
    return fs_failure(errno, "cannot open", n);
  }
  OpenedFile f{UniqueFd(fd), 0};
  struct stat st;
  if (::fstat(fd, &st) != 0) return fs_failure(errno, "cannot stat", n);
  if (!S_ISREG(st.st_mode))
    return FsFailure{FsError::not_found, "'" + n + "' is not a regular file"};
  f.size = static_cast<uint64_t>(st.st_size);
  return f;
}

bool SharedFolder::exists(std::string_view name) const {
  struct stat st;
  return ::fstatat(dirfd_.get(), std::string(name).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

FsResult<TempFile> SharedFolder::create_temp() const {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  for (int attempt = 0; attempt < 16; ++attempt) {
    char suffix[17];
    std::snprintf(suffix, sizeof suffix, "%016llx", static_cast<unsigned long long>(rng()));
    std::string name = std::string(kTempPrefix) + suffix;
    const int fd = ::openat(dirfd_.get(), name.c_str(),
                            O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd >= 0) return TempFile(dirfd_.get(), std::move(name), UniqueFd(fd));
    if (errno != EEXIST) return fs_failure(errno, "cannot create a temporary file for", name);
  }
  return FsFailure{FsError::io, "cannot find a free temporary file name"};
}

size_t SharedFolder::remove_stale_temps() const {
  size_t removed = 0;
  const int fd = ::openat(dirfd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return 0;
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    ::close(fd);
    return 0;
  }
  while (const dirent* d = ::readdir(dir)) {
    // Only our own temporaries: a download's part file and record are kept for its resume.
    if (std::string_view(d->d_name).starts_with(kTempPrefix) &&
        ::unlinkat(dirfd_.get(), d->d_name, 0) == 0)
      ++removed;
  }
  ::closedir(dir);
  return removed;
}

TempFile::TempFile(int dirfd, std::string name, UniqueFd fd)
    : dirfd_(dirfd), name_(std::move(name)), fd_(std::move(fd)) {}

TempFile::TempFile(TempFile&& o) noexcept
    : dirfd_(o.dirfd_), name_(std::move(o.name_)), fd_(std::move(o.fd_)), committed_(o.committed_) {
  o.committed_ = true;  // the moved-from object owns nothing to remove
}

TempFile::~TempFile() {
  if (!committed_ && !name_.empty()) ::unlinkat(dirfd_, name_.c_str(), 0);
}

FsResult<FileStamp> TempFile::stamp() const {
  struct stat st;
  if (::fstat(fd_.get(), &st) != 0) return fs_failure(errno, "cannot stat", name_);
  return stamp_of(st);
}

FsResult<void> TempFile::commit(std::string_view final_name, bool overwrite) {
  const std::string target(final_name);
  if (::fsync(fd_.get()) != 0) return fs_failure(errno, "cannot sync", target);
  const unsigned flags = overwrite ? 0 : RENAME_NOREPLACE;
  if (::renameat2(dirfd_, name_.c_str(), dirfd_, target.c_str(), flags) != 0) {
    if (errno == EEXIST)
      return FsFailure{FsError::already_exists, "'" + target + "' already exists"};
    return fs_failure(errno, "cannot store", target);
  }
  committed_ = true;
  fd_ = UniqueFd();
  // The rename itself must survive a crash too.
  const int dir = ::openat(dirfd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return {};
}

}  // namespace p2p
