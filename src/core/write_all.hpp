// Writes a whole buffer to a descriptor with write(2), retrying after EINTR and short writes.
#pragma once

#include <unistd.h>

#include <cerrno>
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

}  // namespace p2p
