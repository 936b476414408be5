#include "io/uring_probe.hpp"

#include <liburing.h>

#include <cstring>

namespace p2p {

std::string io_uring_problem() {
  io_uring ring{};
  const int rc = io_uring_queue_init(2, &ring, 0);
  if (rc < 0) return std::strerror(-rc);
  io_uring_queue_exit(&ring);
  return {};
}

}  // namespace p2p
