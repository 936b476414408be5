// Whether this process may use io_uring, which every file transfer reads and writes
// through. Seccomp policies block it (Docker 25 and later by default, some hardened
// hosts): the peer says so at start instead of failing each transfer later.
#pragma once

#include "core/result.hpp"

namespace p2p {

// Whether an io_uring instance can be set up; else why not (strerror of the failure).
Result<void> check_io_uring();

}  // namespace p2p
