#include "content.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <cstdio>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <thread>

#include "cli/swarm.hpp"
#include "cli/transfer_source.hpp"
#include "peer_process.hpp"
#include "rest_load.hpp"
#include "transfer/client.hpp"
#include "util.hpp"

namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace p2p::bench {
namespace {

constexpr std::string_view kHashBytes = "p2p_hash_bytes_total";

// Wall time of `openssl dgst -sha256 FILE`, output discarded.
double openssl_seconds(const fs::path& file) {
  const auto t0 = Clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    // Not freopen: it would flush the bench's unwritten stdout, inherited by the fork, a
    // second time (the table came out with pieces repeated).
    const int null = ::open("/dev/null", O_WRONLY);
    if (null < 0 || ::dup2(null, STDOUT_FILENO) < 0) ::_exit(126);
    ::execlp("openssl", "openssl", "dgst", "-sha256", file.c_str(), nullptr);
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("openssl dgst -sha256 failed (is openssl installed?)");
  return since_s(t0);
}

class ContentBench {
 public:
  ContentBench(fs::path bin, fs::path work, ContentPlan plan)
      : bin_(std::move(bin)), work_(std::move(work)), plan_(plan) {}

  boost::json::object run() {
    hashing();
    restart();
    downloads();
    return out_;
  }

 private:
  void hashing();
  void restart();
  void downloads();
  // Downloads `name` from `holders` through the swarm into `out`; seconds and what it did.
  struct SwarmRun {
    double seconds = 0;
    std::vector<HolderStats> stats;
    uint64_t resumed = 0;
    bool ok = false;
    std::string why;
  };
  SwarmRun swarm(const Manifest& m, const std::string& name,
                 const std::vector<const PeerProcess*>& holders, const fs::path& out,
                 uint64_t cancel_at = 0);

  fs::path bin_, work_;
  ContentPlan plan_;
  boost::json::object out_;
};

// A fresh peer (empty hash cache) over one page-cached file: the hasher's own time for the
// file's manifest (p2p_hash_seconds_total) and the time from the peer's start, against
// openssl's one digest of the same file. Then another fresh peer under /buscar load while
// it hashes, and after: the REST path must not wait for the hasher.
void ContentBench::hashing() {
  const fs::path file = work_ / "hash-source";
  make_file(file, plan_.hash_bytes, 1);
  read_through(file);
  const auto fresh_peer = [&](const std::string& name) {
    fs::create_directories(work_ / name);
    fs::create_hard_link(file, work_ / name / "big.bin");
    std::ofstream(work_ / name / "small.txt") << "probe";
    return std::make_unique<PeerProcess>(bin_, work_, name);
  };
  std::vector<double> ours, started, openssl, buscar_busy, buscar_idle, peak_kb;
  for (int run = 0; run < plan_.hash_runs; ++run) {
    openssl.push_back(openssl_seconds(file));
    const auto t0 = Clock::now();
    const auto peer = fresh_peer("HASH" + std::to_string(run));
    const auto url = *parse_http_url(peer->url());
    wait_hashed(url, 2, std::chrono::seconds(120));
    started.push_back(since_s(t0));
    ours.push_back(metric(url, "p2p_hash_seconds_total").value_or(0));
    peak_kb.push_back(static_cast<double>(peer->peak_rss_kb()));

    const auto loaded = fresh_peer("HASHLOAD" + std::to_string(run));
    const auto lurl = *parse_http_url(loaded->url());
    const auto busy = rest_load(lurl, buscar("small.txt"), 10, milliseconds(300));
    const bool hashing_throughout = metric(lurl, kPendingFiles).value_or(0) > 0;
    wait_hashed(lurl, 2, std::chrono::seconds(120));
    const auto idle = rest_load(lurl, buscar("small.txt"), 10, milliseconds(300));
    if (busy.errors || idle.errors) throw std::runtime_error("/buscar failed while hashing");
    if (hashing_throughout) {  // else the file was hashed before the load ended
      buscar_busy.push_back(busy.p99_us);
      buscar_idle.push_back(idle.p99_us);
    }
  }
  fs::remove(file);
  const double ratio = median(ours) / median(openssl);
  std::printf(
      "\nContent hashes (%s page-cached file, median of %d; the peer computes the file's and "
      "every piece's SHA-256 in one read)\n"
      "  openssl dgst -sha256   %7.2f s  %6.0f MB/s\n"
      "  peer's hasher          %7.2f s  %6.0f MB/s  (%.2fx openssl; %.2f s from the peer's "
      "start)\n"
      "  /buscar p99 while hashing %6.0f us, after %6.0f us (%zu of %d runs hashed throughout); "
      "peer peak RSS %.0f kB\n",
      size_label(plan_.hash_bytes).c_str(), plan_.hash_runs, median(openssl),
      mbps(plan_.hash_bytes, median(openssl)), median(ours), mbps(plan_.hash_bytes, median(ours)),
      ratio, median(started), median(buscar_busy), median(buscar_idle), buscar_busy.size(),
      plan_.hash_runs, median(peak_kb));
  out_["hashing"] = boost::json::object{{"bytes", plan_.hash_bytes},
                                        {"openssl_s", median(openssl)},
                                        {"peer_s", median(ours)},
                                        {"peer_from_start_s", median(started)},
                                        {"ratio_to_openssl", ratio},
                                        {"buscar_p99_us_hashing", median(buscar_busy)},
                                        {"buscar_p99_us_idle", median(buscar_idle)},
                                        {"peak_rss_kb", median(peak_kb)}};
}

// A peer restarting over files it has hashed before: /listado with every sha256, and how many
// bytes it read to get there (none, from its cache).
void ContentBench::restart() {
  const std::string name = "RESTART";
  fs::create_directories(work_ / name);
  for (int i = 0; i < plan_.restart_files; ++i)
    std::ofstream(work_ / name / ("f" + std::to_string(i) + ".dat")) << i;
  {
    PeerProcess first(bin_, work_, name);
    wait_hashed(*parse_http_url(first.url()), plan_.restart_files, std::chrono::seconds(120));
  }  // stopped: the cache is saved
  const auto t0 = Clock::now();
  PeerProcess peer(bin_, work_, name);
  const auto url = *parse_http_url(peer.url());
  double listed_s = -1;
  size_t with_sha = 0;
  for (int i = 0; i < 6000 && listed_s < 0; ++i) {
    http::ClientResponse r;
    timed_get(url, "/listado", r);
    if (r.ok() && r.status == 200) {
      with_sha = 0;
      const auto v = boost::json::parse(r.body);
      for (const auto& e : v.as_array())
        if (e.is_object() && e.as_object().contains("sha256")) ++with_sha;
      if (with_sha == static_cast<size_t>(plan_.restart_files)) listed_s = since_s(t0);
    }
    if (listed_s < 0) std::this_thread::sleep_for(milliseconds(5));
  }
  const double read = metric(url, kHashBytes).value_or(-1);
  std::printf(
      "  restart over %d unchanged files: /listado with every sha256 after %.3f s; bytes hashed "
      "%.0f\n",
      plan_.restart_files, listed_s, read);
  out_["restart"] = boost::json::object{{"files", plan_.restart_files},
                                        {"listed_all_s", listed_s},
                                        {"with_sha256", with_sha},
                                        {"bytes_hashed", read}};
}

ContentBench::SwarmRun ContentBench::swarm(const Manifest& m, const std::string& name,
                                           const std::vector<const PeerProcess*>& holders,
                                           const fs::path& out, uint64_t cancel_at) {
  std::vector<std::unique_ptr<PieceSource>> sources;
  for (const auto* h : holders)
    sources.push_back(std::make_unique<TransferSource>(h->grpc_address(), name));
  // Cancelled from its own progress report once cancel_at bytes are verified: a thread
  // polling for it could be descheduled long enough for the download to finish first.
  Swarm* self = nullptr;
  SwarmOptions opt;
  opt.progress = [&](size_t, uint64_t verified, uint64_t) {
    if (cancel_at && verified >= cancel_at) self->cancel();
  };
  Swarm s(m, name, out, std::move(sources), opt);
  self = &s;
  SwarmRun run;
  const auto t0 = Clock::now();
  auto r = s.run();
  run.seconds = since_s(t0);
  run.stats = s.stats();
  run.resumed = s.pieces_resumed();
  run.ok = r.ok();
  if (!r) run.why = r.error().why;
  return run;
}

uint64_t bytes_of(const std::vector<HolderStats>& stats) {
  uint64_t n = 0;
  for (const auto& h : stats) n += h.bytes;
  return n;
}

// One uncapped holder: the verified swarm against the plain (unverified) download. Three
// holders capped at holder_rate: the swarm over 1, 2 and 3 of them. A download cancelled at
// half and resumed: the bytes sent again.
void ContentBench::downloads() {
  const std::string file = "swarm.bin";
  const fs::path source = work_ / "swarm-source";
  make_file(source, plan_.swarm_bytes, 2);
  const std::string cap = R"("max_upload_rate":)" + std::to_string(plan_.holder_rate);
  std::vector<std::unique_ptr<PeerProcess>> peers;
  for (const char* n : {"U", "C1", "C2", "C3"}) {
    fs::create_directories(work_ / n);
    fs::create_hard_link(source, work_ / n / file);
    peers.push_back(std::make_unique<PeerProcess>(bin_, work_, n, *n == 'U' ? "" : cap));
  }
  for (const auto& p : peers) wait_hashed(*parse_http_url(p->url()), 1, std::chrono::seconds(120));
  TransferClient client(peers[0]->grpc_address());
  auto manifest = client.manifest(file);
  if (!manifest)
    throw std::runtime_error("Manifest of " + file + " failed (gRPC status " +
                             std::to_string(manifest.error().error_code()) +
                             "): " + manifest.error().error_message());
  const fs::path out = work_ / "swarm-out";
  fs::create_directories(out);
  const uint64_t size = plan_.swarm_bytes;

  // Both on a new channel each time, as `p2p get` runs: the swarm opens its own per holder.
  std::vector<double> plain, verified;
  for (int run = -1; run < plan_.swarm_runs; ++run) {  // run -1 warms the page cache up
    const auto t0 = Clock::now();
    auto r = TransferClient(peers[0]->grpc_address()).download_to_folder(file, out, true);
    if (!r.status.ok()) throw std::runtime_error("download: " + r.status.error_message());
    if (run >= 0) plain.push_back(since_s(t0));
    fs::remove(out / file);
    auto v = swarm(*manifest, file, {peers[0].get()}, out);
    if (!v.ok) throw std::runtime_error("verified download: " + v.why);
    if (run >= 0) verified.push_back(v.seconds);
    fs::remove(out / file);
  }
  const double plain_rate = mbps(size, median(plain)), verified_rate = mbps(size, median(verified));
  std::printf(
      "\nVerified downloads (%s, median of %d; into a file, a new channel each)\n"
      "  unverified, one holder %8.0f MB/s\n"
      "  verified, one holder   %8.0f MB/s  (%.2f of unverified)\n",
      size_label(size).c_str(), plan_.swarm_runs, plain_rate, verified_rate,
      verified_rate / plain_rate);

  boost::json::array capped;
  double one = 0;
  for (size_t n = 1; n <= 3; ++n) {
    std::vector<const PeerProcess*> holders;
    for (size_t k = 1; k <= n; ++k) holders.push_back(peers[k].get());
    std::vector<double> secs;
    uint64_t least_share = size;
    for (int run = 0; run < plan_.swarm_runs; ++run) {
      auto v = swarm(*manifest, file, holders, out);
      if (!v.ok) throw std::runtime_error(std::to_string(n) + " holders: " + v.why);
      secs.push_back(v.seconds);
      for (const auto& h : v.stats) least_share = std::min(least_share, h.bytes);
      fs::remove(out / file);
    }
    const double rate = mbps(size, median(secs));
    if (n == 1) one = rate;
    std::printf(
        "  %zu holder%s capped at %.0f MB/s each %8.0f MB/s  (%.2fx one; least a holder "
        "sent %s)\n",
        n, n == 1 ? " " : "s", static_cast<double>(plan_.holder_rate) / 1e6, rate, rate / one,
        size_label(least_share).c_str());
    capped.push_back(boost::json::object{{"holders", n},
                                         {"MBps", rate},
                                         {"of_one", rate / one},
                                         {"least_holder_bytes", least_share}});
  }

  // Cancelled once half is verified, then resumed from the same holder.
  auto first = swarm(*manifest, file, {peers[0].get()}, out, size / 2);
  auto second = swarm(*manifest, file, {peers[0].get()}, out);
  if (!second.ok) throw std::runtime_error("resumed download: " + second.why);
  const uint64_t missing = size - std::min(size, second.resumed * manifest->piece_size);
  const uint64_t resent = bytes_of(second.stats) > missing ? bytes_of(second.stats) - missing : 0;
  std::printf(
      "  resumed at %.0f%%: %llu of %llu pieces already verified; sent %s, %llu bytes beyond what "
      "was missing (%.2f pieces)\n",
      100.0 * static_cast<double>(second.resumed) / static_cast<double>(manifest->pieces.size()),
      static_cast<unsigned long long>(second.resumed),
      static_cast<unsigned long long>(manifest->pieces.size()),
      size_label(bytes_of(second.stats)).c_str(), static_cast<unsigned long long>(resent),
      static_cast<double>(resent) / static_cast<double>(manifest->piece_size));
  fs::remove(out / file);
  fs::remove(source);
  out_["verified"] = boost::json::object{{"bytes", size},
                                         {"unverified_MBps", plain_rate},
                                         {"verified_MBps", verified_rate},
                                         {"ratio", verified_rate / plain_rate}};
  out_["capped_holders"] = std::move(capped);
  out_["resume"] = boost::json::object{{"pieces", manifest->pieces.size()},
                                       {"resumed_pieces", second.resumed},
                                       {"first_run_cancelled", !first.ok},
                                       {"bytes_sent_again", bytes_of(second.stats)},
                                       {"bytes_beyond_missing", resent}};
}

}  // namespace

boost::json::object content_bench(const fs::path& peer_bin, const fs::path& work,
                                  const ContentPlan& plan) {
  return ContentBench(peer_bin, work, plan).run();
}

}  // namespace p2p::bench
