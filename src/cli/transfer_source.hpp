// A holder of a file reached over gRPC: what the swarm fetches ranges from in production.
#pragma once

#include <memory>
#include <string>

#include "cli/swarm.hpp"
#include "transfer/client.hpp"

namespace p2p {

class TransferSource : public PieceSource {
 public:
  // `name`: the file's name at that holder (holders found by content may name it otherwise).
  TransferSource(const std::string& address, std::string name,
                 std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);

  std::string label() const override { return address_; }
  Result<void> fetch(uint64_t offset, uint64_t length,
                     const std::function<bool(std::string_view)>& sink,
                     std::stop_token stop) override;

 private:
  std::string address_;
  std::string name_;
  TransferClient client_;
};

}  // namespace p2p
