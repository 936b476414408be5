#include "transfer/transfer_log.hpp"

#include <spdlog/spdlog.h>

namespace p2p {

TransferLog::TransferLog(std::string_view op, std::string_view name, uint64_t size,
                         std::string_view peer)
    : op_(op), name_(name), peer_(peer), start_(std::chrono::steady_clock::now()) {
  if (size > 0 || op_ == "Download")
    spdlog::info("{} {} ({} bytes) with {} started", op_, name_, size, peer_);
  else
    spdlog::info("{} {} with {} started", op_, name_, peer_);
}

void TransferLog::finished(uint64_t bytes, std::string_view outcome) const {
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double mbps = secs > 0 ? static_cast<double>(bytes) / 1e6 / secs : 0.0;
  spdlog::info("{} {} finished: {} bytes in {:.1f} ms ({:.1f} MB/s), {}", op_, name_, bytes,
               secs * 1000, mbps, outcome);
}

}  // namespace p2p
