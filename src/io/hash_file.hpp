// Reads a whole file with io_uring and computes its manifest (the whole-file SHA-256 and one
// per piece) in one pass, 1 MiB at a time.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/random_access_file.hpp>
#include <atomic>
#include <cstdint>

#include "content/manifest.hpp"
#include "core/result.hpp"

namespace p2p {

// `size`: the bytes to hash (the file's size when it was opened); a file that turns out
// shorter fails. `stop` ends the work early (a failure saying so) when it turns true.
// `hashed` counts the bytes as they are hashed (for /metrics).
asio::awaitable<Result<Manifest>> hash_file(asio::random_access_file& file, uint64_t size,
                                            uint64_t piece_size, const std::atomic<bool>& stop,
                                            std::atomic<uint64_t>* hashed = nullptr);

}  // namespace p2p
