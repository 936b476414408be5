#include "ceilings.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "util.hpp"

namespace p2p::bench {

double tcp_loopback_MBps(uint64_t bytes) {
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener, 1) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("cannot listen on loopback");
  const int out = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (::connect(out, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error("cannot connect on loopback");
  const int in = ::accept(listener, nullptr, nullptr);
  ::close(listener);

  const auto start = Clock::now();
  std::thread writer([&] {
    std::vector<char> buf(1 << 20, 'x');
    uint64_t left = bytes;
    while (left > 0) {
      const ssize_t n = ::write(out, buf.data(), std::min<uint64_t>(buf.size(), left));
      if (n <= 0) break;
      left -= static_cast<uint64_t>(n);
    }
    ::shutdown(out, SHUT_WR);
  });
  std::vector<char> buf(1 << 20);
  uint64_t got = 0;
  for (ssize_t n; (n = ::read(in, buf.data(), buf.size())) > 0;) got += static_cast<uint64_t>(n);
  const auto elapsed = Clock::now() - start;
  writer.join();
  ::close(in);
  ::close(out);
  return mbps(got, std::chrono::duration<double>(elapsed).count());
}

double disk_write_MBps(const std::filesystem::path& dir, uint64_t bytes, bool direct) {
  constexpr size_t kBlock = 1 << 20;
  const auto path = dir / ".bench-disk-ceiling";
  const int fd = ::open(path.c_str(),
                        O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (direct ? O_DIRECT : 0), 0644);
  if (fd < 0 && direct && errno == EINVAL) return 0;
  if (fd < 0) throw std::runtime_error("cannot write in " + dir.string());
  std::unique_ptr<char, decltype(&std::free)> buf(
      static_cast<char*>(std::aligned_alloc(4096, kBlock)), &std::free);
  std::memset(buf.get(), 'y', kBlock);
  if (direct) bytes = (bytes + kBlock - 1) / kBlock * kBlock;
  const auto start = Clock::now();
  bool refused = false;
  for (uint64_t left = bytes; left > 0;) {
    const ssize_t n = ::write(fd, buf.get(), std::min<uint64_t>(kBlock, left));
    if (n <= 0) {
      refused = direct && n < 0 && errno == EINVAL;
      break;
    }
    left -= static_cast<uint64_t>(n);
  }
  ::fsync(fd);
  const auto elapsed = Clock::now() - start;
  ::close(fd);
  std::filesystem::remove(path);
  return refused ? 0 : mbps(bytes, std::chrono::duration<double>(elapsed).count());
}

double durable_write_ms(const std::filesystem::path& dir, uint64_t bytes, int runs) {
  const std::vector<char> buf(bytes, 'z');
  const auto tmp = dir / ".bench-durable.tmp", final = dir / ".bench-durable";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto start = Clock::now();
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || ::write(fd, buf.data(), buf.size()) != static_cast<ssize_t>(buf.size()) ||
        ::fsync(fd) != 0 || ::rename(tmp.c_str(), final.c_str()) != 0 || ::fsync(dfd) != 0)
      throw std::runtime_error("cannot write durably in " + dir.string());
    ::close(fd);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    std::filesystem::remove(final);
  }
  ::close(dfd);
  return median(std::move(ms));
}

}  // namespace p2p::bench
