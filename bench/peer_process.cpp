#include "peer_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace p2p::bench {

PeerProcess::PeerProcess(const std::filesystem::path& peer_bin, const std::filesystem::path& dir,
                         const std::string& name, const std::string& extra_json) {
  share_ = dir / name;
  std::filesystem::create_directories(share_);
  const auto config = dir / (name + ".json");
  log_ = dir / (name + ".log");
  std::ofstream(config) << R"({"ip":"127.0.0.1","rest_port":0,"grpc_port":0,"directory":")"
                        << share_.string() << R"(","state_dir":")"
                        << (dir / (name + "-state")).string() << R"(","name":")" << name
                        << R"(","dht":false,"dht_port":0)" << (extra_json.empty() ? "" : ",")
                        << extra_json << "}";
  // A restarted peer writes the same log: its old ports must not be read as the new ones.
  std::filesystem::remove(log_);
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    const int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, STDERR_FILENO);
    ::dup2(fd, STDOUT_FILENO);
    ::execl(peer_bin.c_str(), peer_bin.c_str(), "--config", config.c_str(), nullptr);
    ::_exit(127);
  }
  static const std::regex listening(R"((REST|gRPC) server listening on \S+:(\d+))");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline && (rest_port_ == 0 || grpc_port_ == 0)) {
    std::ifstream in(log_);
    for (std::string line; std::getline(in, line);) {
      std::smatch m;
      if (!std::regex_search(line, m, listening)) continue;
      (m[1] == "REST" ? rest_port_ : grpc_port_) = static_cast<uint16_t>(std::stoi(m[2]));
    }
    if (rest_port_ == 0 || grpc_port_ == 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (rest_port_ == 0 || grpc_port_ == 0) {
    kill();
    std::ifstream in(log_);
    std::stringstream text;
    text << in.rdbuf();
    throw std::runtime_error("peer " + name + " did not start: " + text.str());
  }
}

PeerProcess::~PeerProcess() { stop(); }

uint64_t PeerProcess::status_kb(const char* field) const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with(field)) return std::stoull(line.substr(std::string_view(field).size()));
  return 0;
}

uint64_t PeerProcess::rss_kb() const { return status_kb("VmRSS:"); }
uint64_t PeerProcess::peak_rss_kb() const { return status_kb("VmHWM:"); }
void PeerProcess::reset_peak() const {
  std::ofstream("/proc/" + std::to_string(pid_) + "/clear_refs") << "5";
}

void PeerProcess::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void PeerProcess::suspend() { ::kill(pid_, SIGSTOP); }
void PeerProcess::resume() { ::kill(pid_, SIGCONT); }

void PeerProcess::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGCONT);
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 1500; ++i) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill();
}

}  // namespace p2p::bench
