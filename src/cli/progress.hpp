// A one-line progress bar on stderr (bytes, MB/s, ETA, sources), drawn only when stderr is a
// TTY; the units the command prints and reads (SI: 1 MB = 10^6 bytes); a holder's summary.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "cli/swarm.hpp"
#include "core/result.hpp"

namespace p2p::cli {

class ProgressBar {
 public:
  explicit ProgressBar(std::string label);
  // Draws at most ten times a second; total 0 means "size not known". `sources` > 0: a
  // verified download from that many holders, so `done` counts verified bytes.
  void update(uint64_t done, uint64_t total, size_t sources = 0);
  // Draws the final state and ends the line.
  void finish();

 private:
  void draw();

  std::string label_;
  bool enabled_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  uint64_t done_ = 0, total_ = 0;
  size_t sources_ = 0;
  bool drawn_ = false;
};

// "12.3 MB" (10^6 bytes to a MB).
std::string human_bytes(uint64_t bytes);

// A byte rate as --max-rate takes it: digits with an optional k, M or G (SI, like
// human_bytes: 10M is 10,000,000 bytes/s; any case), optionally followed by "B" or "B/s".
// 0 means unlimited.
Result<uint64_t> parse_rate(std::string_view text);

// "127.0.0.1:50051: 12 pieces verified, 1 rejected, 13.0 MB received; dropped: sent bad data
// (piece 3 did not verify)" — what one holder did in a download.
std::string holder_summary(const HolderStats& s);

}  // namespace p2p::cli
