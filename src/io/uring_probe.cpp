#include "io/uring_probe.hpp"

#include <liburing.h>
#include <sys/mman.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <asio/random_access_file.hpp>
#include <cstring>
#include <system_error>

namespace p2p {

Result<void> check_io_uring() {
  // The ring itself, for the plainest reason (a seccomp filter: EPERM; an old kernel: ENOSYS).
  io_uring ring{};
  if (const int rc = io_uring_queue_init(2, &ring, 0); rc < 0) return Problem{std::strerror(-rc)};
  io_uring_queue_exit(&ring);
  // Then the way transfers use it: Asio's io_uring service (a large ring, an eventfd
  // registered with it; memlock limits and filters on io_uring_register show here) and
  // one read.
  const int fd = memfd_create("p2p-io-uring-probe", MFD_CLOEXEC);
  if (fd < 0 || ::write(fd, "x", 1) != 1) {
    if (fd >= 0) ::close(fd);
    return {};  // nothing to read with: the first transfer will tell
  }
  try {
    asio::io_context ctx;
    asio::random_access_file file(ctx, fd);
    char c = 0;
    std::error_code ec;
    file.async_read_some_at(0, asio::buffer(&c, 1), [&](std::error_code e, size_t) { ec = e; });
    ctx.run();
    if (ec) return Problem{ec.message()};
  } catch (const std::exception& e) {
    return Problem{e.what()};
  }
  return {};
}

}  // namespace p2p
