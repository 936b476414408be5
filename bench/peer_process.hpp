// A p2p-peer child process of the bench, on loopback with port 0, in a folder of its own.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace p2p::bench {

class PeerProcess {
 public:
  // Writes a config (ip 127.0.0.1, ports 0, the DHT off, state_dir DIR/NAME-state, so a peer
  // started again under the same name finds its hash cache; `extra_json` fields appended, e.g.
  // R"("peer_titular":"http://127.0.0.1:8002")") and starts the peer; throws when it does
  // not report both ports within 10 s.
  PeerProcess(const std::filesystem::path& peer_bin, const std::filesystem::path& dir,
              const std::string& name, const std::string& extra_json = "");
  ~PeerProcess();
  PeerProcess(const PeerProcess&) = delete;
  PeerProcess& operator=(const PeerProcess&) = delete;

  const std::filesystem::path& share() const { return share_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(rest_port_); }
  std::string grpc_address() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  uint16_t rest_port() const { return rest_port_; }

  uint64_t rss_kb() const;       // VmRSS
  uint64_t peak_rss_kb() const;  // VmHWM since the last reset_peak()
  void reset_peak() const;

  void kill();     // SIGKILL, and wait
  void suspend();  // SIGSTOP
  void resume();   // SIGCONT
  void stop();     // SIGTERM, and wait

 private:
  uint64_t status_kb(const char* field) const;

  std::filesystem::path share_, log_;
  pid_t pid_ = -1;
  uint16_t rest_port_ = 0, grpc_port_ = 0;
};

}  // namespace p2p::bench
