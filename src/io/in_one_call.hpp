// asio's composed operations (async_write_at, async_read_at, async_write) hand the kernel at
// most 64 KiB a call unless told otherwise: transfer_all caps every call at asio's
// default_max_transfer_size. A 1 MiB direct write went to the device as 16 requests, one
// after the other (0.67 GB/s where one request of 1 MiB ran at 2.3 GB/s). As the completion
// condition of such an operation, `in_one_call` asks for all that is left at every call.
#pragma once

#include <cstddef>
#include <limits>
#include <system_error>

namespace p2p {

inline constexpr auto in_one_call = [](const std::error_code& ec, std::size_t) -> std::size_t {
  return ec ? 0 : std::numeric_limits<std::size_t>::max();
};

}  // namespace p2p
