// Small pieces every phase of the bench uses: test files, timed GETs, /metrics samples.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/uri.hpp"
#include "http/client.hpp"

namespace p2p::bench {

inline constexpr uint64_t kMiB = 1024 * 1024;
using Clock = std::chrono::steady_clock;

// A file of `size` bytes of cheap pseudo-random data (no compression anywhere, but no page of
// zeros either); `seed` makes two files of one size differ.
void make_file(const std::filesystem::path& path, uint64_t size, uint64_t seed = 0);

// Reads `path` once, so that what follows finds it in the page cache.
void read_through(const std::filesystem::path& path);

// The child's exit status (128 + signal when killed by one), or -1 once `bound` has passed
// (it is then sent SIGTERM and waited for).
int wait_bounded(pid_t pid, std::chrono::steady_clock::duration bound);

double median(std::vector<double> v);
double mbps(uint64_t bytes, double secs);
double since_ms(Clock::time_point t0);
double since_s(Clock::time_point t0);
std::string size_label(uint64_t bytes);

// The target of a client's /buscar for `name`.
std::string buscar(const std::string& name);

// GET `target` from `url` on a fresh connection, timed (ms).
double timed_get(const HttpUrl& url, const std::string& target, http::ClientResponse& r);

// The value of the sample `series` (name and labels exactly as exposed, e.g.
// `p2p_hash_files_total{outcome="hashed"}`) in the peer's /metrics; none if absent.
std::optional<double> metric(const HttpUrl& url, std::string_view series);

inline constexpr std::string_view kHashedFiles = R"(p2p_hash_files_total{outcome="hashed"})";
inline constexpr std::string_view kPendingFiles = "p2p_hash_pending_files";

// Waits (bounded) until the peer at `url` has hashed `files` files and has none pending;
// throws when it has not by then.
void wait_hashed(const HttpUrl& url, double files, std::chrono::seconds bound);

}  // namespace p2p::bench
