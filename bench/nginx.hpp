// nginx as the REST phase's ceiling: a web server answering without any work of ours, loaded
// by the same generator with the same connections in the same run, so that every REST row
// reads as a fraction of it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace p2p::bench {

class Nginx {
 public:
  // A file nginx serves as it is, at `path` (exact match).
  struct StaticFile {
    std::string path;
    std::filesystem::path file;
  };
  // The path of the small constant JSON nginx answers with `return 200`.
  static constexpr const char* kConstant = "/constant";

  // Starts nginx (from PATH, else /usr/sbin) on loopback at a free port with `workers` worker
  // processes; its config, pid, log and temporary files go under `dir`, so no root is needed.
  // None, with the reason in `why`, when nginx is not installed or does not start.
  static std::optional<Nginx> start(const std::filesystem::path& dir, int workers,
                                    const std::vector<StaticFile>& files, std::string& why);
  ~Nginx();
  Nginx(Nginx&& o) noexcept : pid_(o.pid_), port_(o.port_) { o.pid_ = -1; }
  Nginx& operator=(Nginx&&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  Nginx(pid_t pid, uint16_t port) : pid_(pid), port_(port) {}
  pid_t pid_;
  uint16_t port_;
};

}  // namespace p2p::bench
