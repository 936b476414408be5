#include "util.hpp"

#include <sys/wait.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>
#include <csignal>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "search/query.hpp"
#include "stats.hpp"

namespace p2p::bench {

void make_file(const std::filesystem::path& path, uint64_t size, uint64_t seed) {
  std::ofstream out(path, std::ios::binary);
  std::vector<uint64_t> block(kMiB / 8);
  std::mt19937_64 rng(size ^ (seed * 0x9e3779b97f4a7c15ULL));
  for (uint64_t done = 0; done < size;) {
    for (auto& w : block) w = rng();
    const uint64_t n = std::min<uint64_t>(kMiB, size - done);
    out.write(reinterpret_cast<const char*>(block.data()), static_cast<std::streamsize>(n));
    done += n;
  }
}

void read_through(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> buf(kMiB);
  while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
  }
}

int wait_bounded(pid_t pid, std::chrono::steady_clock::duration bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

double median(std::vector<double> v) { return quantile(v, 0.5); }
double mbps(uint64_t bytes, double secs) { return static_cast<double>(bytes) / 1e6 / secs; }
double since_ms(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}
double since_s(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string size_label(uint64_t bytes) {
  return bytes >= 1024 * kMiB ? std::to_string(bytes / (1024 * kMiB)) + " GiB"
                              : std::to_string(bytes / kMiB) + " MiB";
}

std::string buscar(const std::string& name) {
  SearchQuery q;
  q.name = name;
  return search_target(q);
}

double timed_get(const HttpUrl& url, const std::string& target, http::ClientResponse& r) {
  asio::io_context io;
  http::Client client(io.get_executor());
  const auto t0 = Clock::now();
  auto f = asio::co_spawn(io, client.get(url, target, Clock::now() + std::chrono::seconds(30)),
                          asio::use_future);
  io.run();
  r = f.get();
  return since_ms(t0);
}

std::optional<double> metric(const HttpUrl& url, std::string_view series) {
  http::ClientResponse r;
  timed_get(url, "/metrics", r);
  if (!r.ok() || r.status != 200) return std::nullopt;
  std::istringstream in(r.body);
  for (std::string line; std::getline(in, line);)
    if (line.size() > series.size() && line.starts_with(series) && line[series.size()] == ' ')
      return std::stod(line.substr(series.size() + 1));
  return std::nullopt;
}

void wait_hashed(const HttpUrl& url, double files, std::chrono::seconds bound) {
  const auto deadline = Clock::now() + bound;
  while (Clock::now() < deadline) {
    if (metric(url, kHashedFiles).value_or(-1) >= files &&
        metric(url, kPendingFiles).value_or(1) == 0)
      return;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  throw std::runtime_error("peer " + url.str() + " did not hash its files in time");
}

}  // namespace p2p::bench
