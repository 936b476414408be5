#include "nginx.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

namespace p2p::bench {
namespace {

namespace fs = std::filesystem;

std::optional<fs::path> find_nginx() {
  std::string path = getenv("PATH") ? getenv("PATH") : "";
  path += ":/usr/sbin:/sbin";
  std::stringstream dirs(path);
  for (std::string d; std::getline(dirs, d, ':');) {
    if (d.empty()) continue;
    const fs::path p = fs::path(d) / "nginx";
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return std::nullopt;
}

// A port nobody listens on now; nginx binds it right after (with SO_REUSEADDR).
uint16_t free_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

bool accepts(uint16_t port) {
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  std::error_code ec;
  s.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
  return !ec;
}

void write_config(const fs::path& conf, const fs::path& dir, int workers, uint16_t port,
                  const std::vector<Nginx::StaticFile>& files) {
  std::ofstream out(conf);
  // As root nginx would run its workers as nobody, who cannot enter the bench's private
  // work dir to read the static files.
  if (::geteuid() == 0) out << "user root;\n";
  out << "worker_processes " << workers << ";\n"
      << "worker_rlimit_nofile 16384;\n"
      << "daemon off;\n"
      << "pid " << (dir / "nginx.pid").string() << ";\n"
      << "error_log " << (dir / "error.log").string() << " warn;\n"
      << "events { worker_connections 8192; }\n"
      << "http {\n"
      << "  access_log off;\n"
      // Our peer never closes a keep-alive connection on its own; nor may the ceiling.
      << "  keepalive_requests 100000000;\n"
      << "  sendfile on;\n"
      << "  tcp_nopush on;\n";
  for (const char* t : {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"})
    out << "  " << t << "_temp_path " << (dir / (std::string(t) + "_temp")).string() << ";\n";
  out << "  server {\n"
      << "    listen 127.0.0.1:" << port << ";\n"
      << "    default_type application/json;\n"
      // About the size of a /buscar hit.
      << "    location = " << Nginx::kConstant
      << " { return 200 "
         "'{\"present\":true,\"filename\":\"file3.txt\",\"grpc_address\":\"127.0.0.1:50051\","
         "\"size\":1000}'; }\n";
  for (const auto& f : files)
    out << "    location = " << f.path << " { alias " << f.file.string() << "; }\n";
  out << "  }\n}\n";
}

}  // namespace

std::optional<Nginx> Nginx::start(const fs::path& dir, int workers,
                                  const std::vector<StaticFile>& files, std::string& why) {
  const auto bin = find_nginx();
  if (!bin) {
    why = "nginx not installed (Debian: nginx-light)";
    return std::nullopt;
  }
  fs::create_directories(dir);
  const uint16_t port = free_port();
  const fs::path conf = dir / "nginx.conf";
  write_config(conf, dir, workers, port, files);
  const fs::path log = dir / "error.log";
  const pid_t pid = ::fork();
  if (pid < 0) {
    why = "fork failed";
    return std::nullopt;
  }
  if (pid == 0) {
    // -e: otherwise nginx first opens the error log compiled in (/var/log/nginx), as root.
    ::execl(bin->c_str(), bin->c_str(), "-p", dir.c_str(), "-c", conf.c_str(), "-e", log.c_str(),
            nullptr);
    ::_exit(127);
  }
  Nginx n(pid, port);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    if (accepts(port)) return n;
    if (::waitpid(pid, nullptr, WNOHANG) == pid) {
      n.pid_ = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  why = "nginx did not start: " + text.str();
  while (!why.empty() && why.back() == '\n') why.pop_back();
  return std::nullopt;
}

Nginx::~Nginx() {
  if (pid_ <= 0) return;
  // SIGTERM: fast shutdown, the master waits for its workers.
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 500; ++i) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

}  // namespace p2p::bench
