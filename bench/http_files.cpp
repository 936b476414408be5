#include "http_files.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json/array.hpp>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "nginx.hpp"
#include "peer_process.hpp"
#include "rest_load.hpp"
#include "util.hpp"

namespace fs = std::filesystem;

namespace p2p::bench {
namespace {

// curl -o /dev/null URL: the bytes it received and its MB/s; throws when curl fails or
// gets another size.
double curl_MBps(const std::string& url, uint64_t expected) {
  int pipefd[2];
  if (::pipe(pipefd) != 0) throw std::runtime_error("pipe failed");
  std::fflush(stdout);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(pipefd[1], STDOUT_FILENO);
    ::close(pipefd[0]);
    ::execlp("curl", "curl", "-s", "-o", "/dev/null", "-w", "%{size_download} %{time_total}",
             url.c_str(), nullptr);
    ::_exit(127);
  }
  ::close(pipefd[1]);
  std::string out;
  char buf[256];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<size_t>(n));
  ::close(pipefd[0]);
  const int status = wait_bounded(pid, std::chrono::minutes(5));
  unsigned long long bytes = 0;
  double secs = 0;
  if (status != 0 || std::sscanf(out.c_str(), "%llu %lf", &bytes, &secs) != 2 || bytes != expected)
    throw std::runtime_error("curl " + url + " failed (exit " + std::to_string(status) + ", got '" +
                             out + "')");
  return mbps(bytes, secs);
}

}  // namespace

boost::json::object http_bench(const fs::path& peer_bin, const fs::path& work,
                               const HttpPlan& plan) {
  // Every small GET at 100 connections is a transfer: room for all of them (the default
  // max_transfers, 64, would answer the rest 503, as it should).
  PeerProcess peer(peer_bin, work, "H", R"("max_transfers":1000)");
  const fs::path big = peer.share() / "big.bin", small = peer.share() / "small.txt";
  make_file(big, plan.file_bytes, 15);
  make_file(small, 1000, 16);
  read_through(big);
  wait_hashed(*parse_http_url(peer.url()), 2, std::chrono::seconds(300));
  std::string why;
  const auto nginx = Nginx::start(work / "nginx-http", static_cast<int>(Config{}.threads),
                                  {{"/big.bin", big}, {"/small.txt", small}}, why);
  if (!nginx) throw std::runtime_error("the HTTP phase needs nginx as its ceiling: " + why);

  std::printf("\nHTTP /archivos/ (curl to /dev/null; nginx: sendfile on, the same file)\n");
  std::vector<double> ours, theirs;
  const uint64_t idle_kb = peer.rss_kb();
  uint64_t peak_kb = idle_kb;
  for (int r = 0; r < plan.rounds; ++r) {
    peer.reset_peak();
    ours.push_back(curl_MBps(peer.url() + "/archivos/big.bin", plan.file_bytes));
    peak_kb = std::max(peak_kb, peer.peak_rss_kb());
    theirs.push_back(curl_MBps(nginx->url() + "/big.bin", plan.file_bytes));
  }
  const double o = median(ours), n = median(theirs);
  std::printf("  %-28s %9.0f MB/s   nginx %9.0f MB/s   %.2fx of nginx\n",
              ("download " + size_label(plan.file_bytes)).c_str(), o, n, o / n);
  std::printf("  peer RSS idle %llu kB, peak during the downloads %llu kB (+%lld kB)\n",
              static_cast<unsigned long long>(idle_kb), static_cast<unsigned long long>(peak_kb),
              static_cast<long long>(peak_kb) - static_cast<long long>(idle_kb));
  boost::json::object out{{"download", boost::json::object{{"file_bytes", plan.file_bytes},
                                                           {"peer_MBps", o},
                                                           {"nginx_MBps", n},
                                                           {"nginx_fraction", o / n},
                                                           {"rss_idle_kb", idle_kb},
                                                           {"rss_peak_kb", peak_kb}}}};

  const auto mine = rest_load(*parse_http_url(peer.url()), "/archivos/small.txt", plan.concurrency,
                              plan.small_duration);
  const auto ceiling =
      rest_load(*parse_http_url(nginx->url()), "/small.txt", plan.concurrency, plan.small_duration);
  std::printf(
      "  small GETs (1000 B), c%-6d %9.0f r/s  p99 %6.0f us   nginx %9.0f r/s  p99 %6.0f us"
      "   %.2fx of nginx%s\n",
      plan.concurrency, mine.rps, mine.p99_us, ceiling.rps, ceiling.p99_us,
      ceiling.rps > 0 ? mine.rps / ceiling.rps : 0.0,
      mine.errors || ceiling.errors ? "  (ERRORS)" : "");
  out["small_gets"] =
      boost::json::object{{"concurrency", plan.concurrency},
                          {"rps", mine.rps},
                          {"p99_us", mine.p99_us},
                          {"errors", mine.errors},
                          {"nginx_rps", ceiling.rps},
                          {"nginx_p99_us", ceiling.p99_us},
                          {"nginx_fraction", ceiling.rps > 0 ? mine.rps / ceiling.rps : 0.0}};

  // The page's first load as a browser makes it: the three files, then the four JSON
  // answers its script asks for, each on a fresh connection (a browser opens several).
  const auto url = *parse_http_url(peer.url());
  std::vector<double> loads;
  uint64_t page_bytes = 0;
  for (int i = 0; i < 5; ++i) {
    const auto t0 = Clock::now();
    page_bytes = 0;
    for (const char* target : {"/ui/", "/ui/app.js", "/ui/app.css"}) {
      http::ClientResponse r;
      timed_get(url, target, r);
      if (!r.ok() || r.status != 200)
        throw std::runtime_error(std::string("GET ") + target + " failed");
      page_bytes += r.body.size();
    }
    for (const char* target : {"/health", "/listado", "/peers", "/transfers"}) {
      http::ClientResponse r;
      timed_get(url, target, r);
    }
    loads.push_back(since_ms(t0));
  }
  std::printf("  web page first load: %llu bytes (HTML, JS, CSS), %.2f ms with its JSON\n",
              static_cast<unsigned long long>(page_bytes), median(loads));
  out["page"] = boost::json::object{{"bytes", page_bytes}, {"first_load_ms", median(loads)}};
  return out;
}

}  // namespace p2p::bench
