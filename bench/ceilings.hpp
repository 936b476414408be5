// What the machine itself can do, measured by the bench in the same run as everything
// else, so each throughput can be read as a fraction of its ceiling.
#pragma once

#include <cstdint>
#include <filesystem>

namespace p2p::bench {

// One TCP stream over loopback: a writer thread sends `bytes` in 1 MiB writes, the
// reader takes them; MB/s (10^6 bytes).
double tcp_loopback_MBps(uint64_t bytes);

// Sequential 1 MiB writes of `bytes` into a new file in `dir`, then fsync; MB/s. The
// file is removed afterwards. `direct`: with O_DIRECT (bytes rounded up to whole MiB),
// what the device takes without the page cache; 0 where the file system refuses it.
double disk_write_MBps(const std::filesystem::path& dir, uint64_t bytes, bool direct = false);

// What storing a small upload durably costs at least: write `bytes` into a new file in
// `dir`, fsync it, rename it and fsync the folder, as an upload does; median ms of `runs`.
double durable_write_ms(const std::filesystem::path& dir, uint64_t bytes, int runs);

}  // namespace p2p::bench
