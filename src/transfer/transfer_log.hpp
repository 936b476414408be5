// The log lines of one transfer: its start, and its end with size, duration and MB/s.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace p2p {

class TransferLog {
 public:
  // Logs the start (unless `log_start` is false: one line per transfer, for HTTP's many
  // small ones). size 0 means "not known yet" (an upload).
  TransferLog(std::string_view op, std::string_view name, uint64_t size, std::string_view peer,
              bool log_start = true);
  // Logs the end: bytes moved, duration, MB/s (10^6 bytes), the outcome, and whom with.
  void finished(uint64_t bytes, std::string_view outcome) const;

 private:
  std::string op_, name_, peer_;
  std::chrono::steady_clock::time_point start_;
  bool started_logged_;
};

}  // namespace p2p
