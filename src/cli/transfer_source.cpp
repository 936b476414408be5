#include "cli/transfer_source.hpp"

namespace p2p {

TransferSource::TransferSource(const std::string& address, std::string name,
                               std::shared_ptr<grpc::ChannelCredentials> credentials)
    : address_(address), name_(std::move(name)), client_(address, std::move(credentials)) {}

Result<void> TransferSource::fetch(uint64_t offset, uint64_t length,
                                   const std::function<bool(std::string_view)>& sink,
                                   std::stop_token stop) {
  const TransferResult r = client_.download_range(name_, offset, length, sink, {}, stop);
  if (r.status.ok()) return {};
  return Problem{r.status.error_message()};
}

}  // namespace p2p
