// A keep-alive HTTP load generator on Asio: N connections, each sending its next request
// as soon as the last answer arrives, for a fixed time.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "core/uri.hpp"

namespace p2p::bench {

struct RestResult {
  uint64_t requests = 0;  // answered with 200
  uint64_t errors = 0;    // failed, or answered otherwise
  double rps = 0, p50_us = 0, p99_us = 0, max_us = 0;
};

RestResult rest_load(const HttpUrl& peer, const std::string& target, int concurrency,
                     std::chrono::milliseconds duration);

}  // namespace p2p::bench
