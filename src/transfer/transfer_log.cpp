#include "transfer/transfer_log.hpp"

#include <spdlog/spdlog.h>

namespace p2p {

TransferLog::TransferLog(std::string_view op, std::string_view name, uint64_t size,
                         std::string_view peer, bool log_start)
    : op_(op),
      name_(name),
      peer_(peer),
      start_(std::chrono::steady_clock::now()),
      started_logged_(log_start) {
  if (!log_start) return;
  if (size > 0 || op_ == "Download")
    spdlog::info("{} {} ({} bytes) with {} started", op_, name_, size, peer_);
  else
    spdlog::info("{} {} with {} started", op_, name_, peer_);
}

void TransferLog::finished(uint64_t bytes, std::string_view outcome) const {
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double mbps = secs > 0 ? static_cast<double>(bytes) / 1e6 / secs : 0.0;
  if (started_logged_)
    spdlog::info("{} {} finished: {} bytes in {:.1f} ms ({:.1f} MB/s), {}", op_, name_, bytes,
                 secs * 1000, mbps, outcome);
  else  // the one line of this transfer: whom with too
    spdlog::info("{} {} finished: {} bytes in {:.1f} ms ({:.1f} MB/s), {}, with {}", op_, name_,
                 bytes, secs * 1000, mbps, outcome, peer_);
}

}  // namespace p2p
