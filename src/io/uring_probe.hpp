// Whether this process may use io_uring, which every file transfer reads and writes
// through. Seccomp policies block it (Docker 25 and later by default, some hardened
// hosts): the peer says so at start instead of failing each transfer later.
#pragma once

#include <string>

namespace p2p {

// Empty when an io_uring instance can be set up; else why not (strerror of the failure).
std::string io_uring_problem();

}  // namespace p2p
