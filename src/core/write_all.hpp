// Writes whole buffers to a descriptor, retrying after EINTR and short writes: with write(2)
// at the file position, or with pwritev(2) at an offset from several buffers in one call.
#pragma once

#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <span>
#include <string_view>

namespace p2p {

inline bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// `parts` one after another from `offset` on (a message's slices, say: no copy to join them).
inline bool pwrite_all(int fd, std::span<const std::string_view> parts, uint64_t offset) {
  std::array<iovec, 64> iov;
  size_t next = 0, skip = 0;  // what is still to write starts at parts[next] + skip
  for (;;) {
    size_t n = 0;
    for (size_t k = next; k < parts.size() && n < iov.size(); ++k) {
      const std::string_view p = k == next ? parts[k].substr(skip) : parts[k];
      if (!p.empty()) iov[n++] = {const_cast<char*>(p.data()), p.size()};
    }
    if (n == 0) return true;
    const ssize_t written =
        ::pwritev(fd, iov.data(), static_cast<int>(n), static_cast<off_t>(offset));
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) {
      if (written == 0) errno = EIO;  // no progress on a regular file: do not spin
      return false;
    }
    offset += static_cast<uint64_t>(written);
    auto left = static_cast<size_t>(written);
    while (next < parts.size() && left >= parts[next].size() - skip) {
      left -= parts[next].size() - skip;
      ++next;
      skip = 0;
    }
    skip += left;
  }
}

inline bool pwrite_all(int fd, std::string_view data, uint64_t offset) {
  return pwrite_all(fd, std::span<const std::string_view>(&data, 1), offset);
}

}  // namespace p2p
