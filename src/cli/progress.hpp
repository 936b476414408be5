// A one-line progress bar on stderr (bytes, MB/s, ETA), drawn only when stderr is a TTY.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace p2p::cli {

class ProgressBar {
 public:
  explicit ProgressBar(std::string label);
  // Draws at most ten times a second; total 0 means "size not known".
  void update(uint64_t done, uint64_t total);
  // Draws the final state and ends the line.
  void finish();

 private:
  void draw(uint64_t done, uint64_t total);

  std::string label_;
  bool enabled_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  uint64_t done_ = 0, total_ = 0;
  bool drawn_ = false;
};

// "12.3 MB" (10^6 bytes to a MB).
std::string human_bytes(uint64_t bytes);

}  // namespace p2p::cli
