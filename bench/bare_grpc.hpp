// The bench's bare gRPC server (bare_grpc_server.cpp) as a child process: the ceiling every
// download of our peer is read against.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace p2p::bench {

class BareGrpcProcess {
 public:
  // Starts `bin`; throws when it does not say its port within 10 s.
  explicit BareGrpcProcess(const std::filesystem::path& bin);
  ~BareGrpcProcess();
  BareGrpcProcess(const BareGrpcProcess&) = delete;
  BareGrpcProcess& operator=(const BareGrpcProcess&) = delete;

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;  // closing it stops the server
  uint16_t port_ = 0;
};

}  // namespace p2p::bench
