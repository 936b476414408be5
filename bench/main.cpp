// p2p-bench: starts its own peers on loopback, measures REST latency, transfer
// throughput, failover and memory against ceilings measured in the same run, and writes
// a table, bench/results/latest.json and bench/results/latest.png.
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>
#include <atomic>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "bare_grpc.hpp"
#include "ceilings.hpp"
#include "content.hpp"
#include "core/config.hpp"
#include "core/uri.hpp"
#include "http/client.hpp"
#include "http_files.hpp"
#include "nginx.hpp"
#include "peer_process.hpp"
#include "plot.hpp"
#include "rest_load.hpp"
#include "search/reply.hpp"
#include "stats.hpp"
#include "swarm.hpp"
#include "transfer/client.hpp"
#include "util.hpp"

namespace fs = std::filesystem;
using namespace p2p;
using namespace p2p::bench;
using std::chrono::milliseconds;

namespace {

struct Plan {
  bool quick = false;
  std::vector<int> concurrency;
  milliseconds rest_duration;
  std::vector<uint64_t> sizes;
  int runs;          // per transfer size (median reported)
  int latency_runs;  // 1 MiB downloads for p50/p99
  uint64_t tcp_bytes, disk_bytes;
  int failover_next;   // queries after the first
  int metrics_rounds;  // /buscar with and without a /metrics scraper, alternated
  ContentPlan content;
  SwarmPlan swarm;
  HttpPlan http;
};

Plan make_plan(bool quick) {
  if (quick)
    return {true,
            {1, 50, 100},
            milliseconds(500),
            {kMiB, 64 * kMiB},
            3,
            30,
            512 * kMiB,
            128 * kMiB,
            5,
            1,
            {256 * kMiB, 1, 1000, 64 * kMiB, 1, 100'000'000},
            {12, 2},
            {64 * kMiB, 1, milliseconds(500), 100}};
  return {false,
          {1, 10, 50, 100, 1000},
          milliseconds(3000),
          {kMiB, 64 * kMiB, 1024 * kMiB},
          3,
          200,
          4096 * kMiB,
          1024 * kMiB,
          20,
          5,
          {1024 * kMiB, 3, 10000, 1024 * kMiB, 3, 100'000'000},
          {300, 2},
          {1024 * kMiB, 3, milliseconds(3000), 100}};
}

// GET /buscar through `url`, timed.
double timed_search(const HttpUrl& url, const std::string& name, bool& present) {
  http::ClientResponse r;
  const double ms = timed_get(url, buscar(name), r);
  present = false;
  if (r.ok() && r.status == 200)
    if (const auto reply = parse_search_reply(r.body)) present = reply->present;
  return ms;
}

class Bench {
 public:
  Bench(Plan plan, fs::path peer_bin, fs::path bare_bin, fs::path swarm_script, fs::path work)
      : plan_(std::move(plan)),
        bin_(std::move(peer_bin)),
        bare_bin_(std::move(bare_bin)),
        swarm_script_(std::move(swarm_script)),
        work_(std::move(work)) {}

  // Every phase, or only the one named (rest, transfers with memory, failover, content,
  // http, swarm).
  boost::json::object run(const std::string& only = {});
  // REST load on a running peer instead of peers of our own (its counters move).
  boost::json::object run_against(const HttpUrl& peer);

 private:
  void ceilings();
  void rest();
  struct RestEndpoint {
    const char* name;
    std::string url;
    std::string target;
    // What nginx serves as this endpoint's ceiling: its constant, or a copy of the same body.
    std::string ceiling = Nginx::kConstant;
  };
  // Each endpoint at each concurrency, beside nginx loaded the same way just before (when
  // `nginx` is there; else `no_nginx` says why on every row).
  boost::json::array measure_rest(const std::vector<RestEndpoint>& endpoints,
                                  const std::optional<Nginx>& nginx,
                                  const std::string& no_nginx) const;
  // nginx on loopback, as many workers as a bench peer has threads, serving its constant and
  // `files`; none (and `why`) when it is not installed.
  std::optional<Nginx> start_nginx(const std::vector<Nginx::StaticFile>& files,
                                   std::string& why) const;
  void metrics_cost(const HttpUrl& url);
  void transfers();
  void latency_1MiB(TransferClient& client, TransferClient& bare_client, const PeerProcess& peer,
                    const std::vector<uint8_t>& source);
  void memory();
  void failover();
  void content() { out_["content"] = content_bench(bin_, work_, plan_.content); }
  void swarm() { out_["swarm"] = swarm_bench(swarm_script_, bin_, work_, plan_.swarm); }
  void http() { out_["http"] = http_bench(bin_, work_, plan_.http); }

  Plan plan_;
  fs::path bin_, bare_bin_, swarm_script_, work_;
  boost::json::object out_{{"version", 1}};
  double tcp_ = 0, disk_ = 0, disk_direct_ = 0;
};

void Bench::ceilings() {
  fs::create_directories(work_ / "M");
  tcp_ = tcp_loopback_MBps(plan_.tcp_bytes);
  disk_ = disk_write_MBps(work_ / "M", plan_.disk_bytes);
  disk_direct_ = disk_write_MBps(work_ / "M", plan_.disk_bytes, true);
  out_["ceiling"] = boost::json::object{{"tcp_loopback_MBps", tcp_},
                                        {"disk_write_MBps", disk_},
                                        {"disk_direct_write_MBps", disk_direct_}};
  std::printf(
      "\nCeilings\n  TCP loopback, one stream      %9.0f MB/s\n  disk, sequential write+fsync "
      "%9.0f MB/s\n  disk, the same with O_DIRECT %9.0f MB/s\n",
      tcp_, disk_, disk_direct_);
}

std::optional<Nginx> Bench::start_nginx(const std::vector<Nginx::StaticFile>& files,
                                        std::string& why) const {
  // The bench's peers run with the default thread count.
  return Nginx::start(work_ / "nginx", static_cast<int>(Config{}.threads), files, why);
}

boost::json::array Bench::measure_rest(const std::vector<RestEndpoint>& endpoints,
                                       const std::optional<Nginx>& nginx,
                                       const std::string& no_nginx) const {
  boost::json::array rows;
  std::printf(
      "\nREST (keep-alive connections, %lld ms each; nginx: the same load on nginx right before)\n"
      "  %-15s %5s %10s %9s %9s %9s %7s %10s %9s %8s\n",
      static_cast<long long>(plan_.rest_duration.count()), "endpoint", "conc", "req/s", "p50 us",
      "p99 us", "max us", "errors", "nginx r/s", "nginx p99", "of nginx");
  if (!nginx) std::printf("  (no nginx ceiling: %s)\n", no_nginx.c_str());
  for (const auto& e : endpoints) {
    for (int c : plan_.concurrency) {
      // The machine is shared and its load drifts: the ceiling is measured next to each row.
      RestResult ceiling;
      if (nginx)
        ceiling = rest_load(*parse_http_url(nginx->url()), e.ceiling, c, plan_.rest_duration);
      const auto r = rest_load(*parse_http_url(e.url), e.target, c, plan_.rest_duration);
      boost::json::object o{{"endpoint", e.name}, {"concurrency", c},  {"requests", r.requests},
                            {"errors", r.errors}, {"rps", r.rps},      {"p50_us", r.p50_us},
                            {"p99_us", r.p99_us}, {"max_us", r.max_us}};
      char of[16] = "no nginx";
      if (nginx && ceiling.errors == 0 && ceiling.rps > 0) {
        o["nginx_rps"] = ceiling.rps;
        o["nginx_p99_us"] = ceiling.p99_us;
        o["nginx_fraction"] = r.rps / ceiling.rps;
        std::snprintf(of, sizeof of, "%.2f", r.rps / ceiling.rps);
      } else {
        o["nginx"] = nginx ? "nginx answered with errors" : no_nginx;
      }
      std::printf("  %-15s %5d %10.0f %9.0f %9.0f %9.0f %7llu %10.0f %9.0f %8s\n", e.name, c, r.rps,
                  r.p50_us, r.p99_us, r.max_us, static_cast<unsigned long long>(r.errors),
                  ceiling.rps, ceiling.p99_us, of);
      rows.push_back(std::move(o));
    }
  }
  return rows;
}

boost::json::object Bench::run_against(const HttpUrl& peer) {
  // A file the peer lists, for a /buscar hit (its first, if any).
  http::ClientResponse listing;
  timed_get(peer, "/listado", listing);
  if (!listing.ok() || listing.status != 200)
    throw std::runtime_error(
        "GET " + peer.str() + "/listado failed: " +
        (listing.ok() ? "status " + std::to_string(listing.status) : listing.message));
  std::string name = "p2p-bench-probe.txt";
  const auto files = boost::json::parse(listing.body);
  if (files.is_array() && !files.as_array().empty() && files.as_array()[0].is_object())
    if (const auto* n = files.as_array()[0].as_object().if_contains("name"); n && n->is_string())
      name = std::string(n->as_string());
  std::printf("Measuring %s (REST only; /buscar asks for '%s')\n", peer.str().c_str(),
              name.c_str());
  out_["target"] = peer.str();
  std::string no_nginx;
  const auto nginx = start_nginx({}, no_nginx);
  out_["rest"] = measure_rest({{"listado", peer.str(), "/listado"},
                               {"health", peer.str(), "/health"},
                               {"buscar", peer.str(), buscar(name)}},
                              nginx, no_nginx);
  return out_;
}

void Bench::rest() {
  PeerProcess small(bin_, work_, "S");
  for (int i = 0; i < 10; ++i)
    make_file(small.share() / ("file" + std::to_string(i) + ".txt"), 1000);
  PeerProcess large(bin_, work_, "L");
  for (int i = 0; i < 10000; ++i)
    std::ofstream(large.share() / ("f" + std::to_string(i) + ".dat")) << i;
  PeerProcess asker(bin_, work_, "A", R"("peer_titular":")" + small.url() + "\"");
  std::ofstream(asker.share() / "mine.txt") << "local to a peer with a neighbour";
  std::this_thread::sleep_for(milliseconds(300));  // let the watchers see the new files
  // Hashing publishes new snapshots (each rebuilds the listing): measure the steady state.
  wait_hashed(*parse_http_url(large.url()), 10000, std::chrono::seconds(120));

  // nginx serves the large peer's listing as a file: the ceiling for a body that size.
  http::ClientResponse listing;
  timed_get(*parse_http_url(large.url()), "/listado", listing);
  const auto listing_copy = work_ / "listado_10k.json";
  std::ofstream(listing_copy, std::ios::binary) << listing.body;
  std::string no_nginx;
  const auto nginx = start_nginx({{"/listado_10k", listing_copy}}, no_nginx);

  out_["rest"] = measure_rest(
      {
          {"listado", small.url(), "/listado"},
          {"listado_10k", large.url(), "/listado", "/listado_10k"},
          {"buscar_local", small.url(), buscar("file3.txt")},
          // A local hit on a peer that has neighbours: it must not wait on them.
          {"buscar_local_nb", asker.url(), buscar("mine.txt")},
          {"buscar_remote", asker.url(), buscar("file3.txt")},
      },
      nginx, no_nginx);
  metrics_cost(*parse_http_url(small.url()));
}

// What serving /metrics costs the hot path: /buscar (local hit, 10 connections) alone and
// while another client scrapes /metrics every second (Prometheus's default is 15 s) and
// every 10 ms (a stress: the scrapes' own CPU competes on the same cores), alternated;
// medians over the rounds.
void Bench::metrics_cost(const HttpUrl& url) {
  const std::string target = buscar("file3.txt");
  constexpr std::array<int, 2> kIntervalsMs{1000, 10};
  std::vector<double> alone, alone_p99, scrape_ms;
  std::array<std::vector<double>, kIntervalsMs.size()> scraped, scraped_p99;
  size_t scrape_bytes = 0;
  std::string failed;
  for (int round = 0; round < plan_.metrics_rounds; ++round) {
    const auto a = rest_load(url, target, 10, plan_.rest_duration);
    alone.push_back(a.rps);
    alone_p99.push_back(a.p99_us);
    for (size_t k = 0; k < kIntervalsMs.size(); ++k) {
      std::atomic<bool> stop{false};
      std::thread scraper([&] {
        for (int i = 0; i < 100000 && !stop.load(); ++i) {
          http::ClientResponse r;
          scrape_ms.push_back(timed_get(url, "/metrics", r));
          if (!r.ok() || r.status != 200) {
            failed = r.ok() ? "status " + std::to_string(r.status) : r.message;
            return;
          }
          scrape_bytes = r.body.size();
          for (int waited = 0; waited < kIntervalsMs[k] && !stop.load(); waited += 10)
            std::this_thread::sleep_for(milliseconds(10));
        }
      });
      const auto s = rest_load(url, target, 10, plan_.rest_duration);
      stop = true;
      scraper.join();
      if (!failed.empty()) throw std::runtime_error("GET /metrics failed: " + failed);
      scraped[k].push_back(s.rps);
      scraped_p99[k].push_back(s.p99_us);
    }
  }
  std::printf(
      "\n/metrics cost (/buscar local, 10 connections, %d rounds)\n"
      "  alone                 %8.0f req/s  p99 %6.0f us\n",
      plan_.metrics_rounds, median(alone), median(alone_p99));
  boost::json::array rows;
  for (size_t k = 0; k < kIntervalsMs.size(); ++k) {
    const double ratio = median(scraped[k]) / median(alone);
    std::printf("  scraped every %4d ms %8.0f req/s  p99 %6.0f us  (%.2f of alone)\n",
                kIntervalsMs[k], median(scraped[k]), median(scraped_p99[k]), ratio);
    rows.push_back(boost::json::object{{"interval_ms", kIntervalsMs[k]},
                                       {"rps", median(scraped[k])},
                                       {"p99_us", median(scraped_p99[k])},
                                       {"ratio", ratio}});
  }
  std::printf("  one scrape            %8.2f ms (median, new connection), %zu bytes\n",
              median(scrape_ms), scrape_bytes);
  out_["metrics_cost"] = boost::json::object{{"alone_rps", median(alone)},
                                             {"alone_p99_us", median(alone_p99)},
                                             {"scraped", std::move(rows)},
                                             {"scrape_ms", median(scrape_ms)},
                                             {"scrape_bytes", scrape_bytes}};
}

// Seconds of `run()` over the plan's runs, after one uncounted run that warms the channel up
// (HTTP/2 flow-control windows grow with the first transfers); throws what a run reports.
template <class Run>
std::vector<double> timed_runs(int runs, const std::string& what, Run run) {
  std::vector<double> secs;
  for (int i = -1; i < runs; ++i) {
    const auto t0 = Clock::now();
    const TransferResult r = run();
    const double s = since_s(t0);
    if (!r.status.ok()) throw std::runtime_error(what + ": " + r.status.error_message());
    if (i >= 0) secs.push_back(s);
  }
  return secs;
}

TransferResult to_memory(TransferClient& client, const std::string& name) {
  return client.download(name, [](std::string_view) { return true; });
}

// 16 downloads of `name` at once, each its own client and channel; MB/s of all together.
double parallel_MBps(const std::string& address, const std::string& name) {
  std::vector<std::thread> threads;
  std::atomic<uint64_t> total{0};
  const auto t0 = Clock::now();
  for (int i = 0; i < 16; ++i)
    threads.emplace_back([&] {
      TransferClient c(address);
      total += to_memory(c, name).bytes;
    });
  for (auto& t : threads) t.join();
  return mbps(total, since_s(t0));
}

void Bench::transfers() {
  for (uint64_t size : plan_.sizes) make_file(work_ / "M" / ("size-" + std::to_string(size)), size);
  std::vector<uint8_t> source(64 * kMiB);
  std::mt19937_64 rng(7);
  for (auto& b : source) b = static_cast<uint8_t>(rng());
  PeerProcess peer(bin_, work_, "M");
  BareGrpcProcess bare(bare_bin_);
  const auto out_dir = work_ / "downloads";
  fs::create_directories(out_dir);
  TransferClient client(peer.grpc_address()), bare_client(bare.address());
  if (!client.connect(std::chrono::seconds(5)).ok() ||
      !bare_client.connect(std::chrono::seconds(5)).ok())
    throw std::runtime_error("cannot reach peer M or the bare gRPC server");

  boost::json::array rows;
  std::printf(
      "\ngRPC transfers (median of %d runs; MB = 10^6 bytes; downloads read against one TCP "
      "stream and\nthe bare gRPC server, uploads against the bare server and writing as many bytes "
      "to the\ndisk right before)\n  %-9s %-8s %-7s %10s %9s "
      "%8s %8s\n",
      plan_.runs, "op", "size", "sink", "MB/s", "p50 ms", "of TCP", "of bare");
  uint64_t upload_seq = 0;
  std::map<uint64_t, double> ours_memory;  // by size: one stream to memory, MB/s
  for (uint64_t size : plan_.sizes) {
    const std::string name = "size-" + std::to_string(size);
    const double bare_rate = mbps(size, median(timed_runs(plan_.runs, "bare " + name, [&] {
                                    return to_memory(bare_client, name);
                                  })));
    // Uploads are read against writing as many bytes to the disk right before (what the
    // page cache costs moves by 5x within minutes here: fresh pages or recycled ones), and
    // against the bare server receiving them.
    double disk_here = 0, bare_upload_rate = 0;
    const auto row = [&](const char* op, const char* sink, const std::vector<double>& secs) {
      const bool upload = std::string_view(op) == "upload";
      const double rate = mbps(size, median(secs));
      const double bare_fraction = rate / (upload ? bare_upload_rate : bare_rate);
      std::printf("  %-9s %-8s %-7s %10.0f %9.2f", op, size_label(size).c_str(), sink, rate,
                  median(secs) * 1000);
      if (upload)
        std::printf(" %8s %7.0f%% %5.0f%% of the disk (%.0f MB/s)\n", "", 100 * bare_fraction,
                    100 * rate / disk_here, disk_here);
      else
        std::printf(" %7.0f%% %7.0f%%\n", 100 * rate / tcp_, 100 * bare_fraction);
      boost::json::object r{{"op", op},
                            {"bytes", size},
                            {"sink", sink},
                            {"MBps", rate},
                            {"p50_ms", median(secs) * 1000},
                            {"ceiling_fraction", rate / (upload ? disk_here : tcp_)},
                            {"bare_fraction", bare_fraction}};
      if (upload) r["disk_MBps"] = disk_here;
      rows.push_back(std::move(r));
      return rate;
    };
    const auto upload = [&](TransferClient& to) {
      uint64_t sent = 0;
      const std::string target = "up-" + std::to_string(++upload_seq);
      auto r = to.upload_from(
          [&](char* buf, size_t n) -> ssize_t {
            // Chunks divide the source evenly, so a chunk never wraps around it.
            n = std::min<uint64_t>(n, size - sent);
            std::memcpy(buf, source.data() + sent % source.size(), n);
            sent += n;
            return static_cast<ssize_t>(n);
          },
          size, target);
      fs::remove(peer.share() / target);
      return r;
    };
    row("download", "bare", {size / 1e6 / bare_rate});
    ours_memory[size] =
        row("download", "memory",
            timed_runs(plan_.runs, "memory " + name, [&] { return to_memory(client, name); }));
    row("download", "file", timed_runs(plan_.runs, "file " + name, [&] {
          auto r = client.download_to_folder(name, out_dir, true);
          fs::remove(out_dir / name);
          return r;
        }));
    // Beside the share, on the same file system: a file in it would be indexed and hashed.
    const auto disk_dir = peer.share().parent_path() / "disk-ceiling";
    fs::create_directories(disk_dir);
    std::vector<double> disk_runs;
    for (int i = 0; i < plan_.runs; ++i) disk_runs.push_back(disk_write_MBps(disk_dir, size));
    disk_here = median(std::move(disk_runs));
    bare_upload_rate = mbps(size, median(timed_runs(plan_.runs, "bare upload " + name,
                                                    [&] { return upload(bare_client); })));
    row("upload", "bare", {size / 1e6 / bare_upload_rate});
    row("upload", "file", timed_runs(plan_.runs, "upload " + name, [&] { return upload(client); }));
  }
  out_["transfer"] = std::move(rows);
  latency_1MiB(client, bare_client, peer, source);

  // 16 parallel downloads of one 64 MiB file, each its own channel, from our peer and from
  // the bare server: if the bare server does not add up either, the bench's client is the
  // bottleneck, not the peer.
  const std::string name64 = "size-" + std::to_string(64 * kMiB);
  const double agg = parallel_MBps(peer.grpc_address(), name64);
  const double bare_agg = parallel_MBps(bare.address(), name64);
  const double one = ours_memory.count(64 * kMiB) ? ours_memory[64 * kMiB] : 0;
  std::printf(
      "  16 parallel downloads of 64 MiB: %.0f MB/s aggregate, %.2fx one stream of ours, "
      "%.0f%% of one TCP stream;\n    the bare server's 16: %.0f MB/s (ours %.0f%% of it)\n",
      agg, one > 0 ? agg / one : 0, 100 * agg / tcp_, bare_agg, 100 * agg / bare_agg);
  out_["parallel"] = boost::json::object{
      {"streams", 16}, {"MBps", agg}, {"one_stream_MBps", one}, {"bare_MBps", bare_agg}};
}

// 1 MiB downloads: on the warm channel (ours and the bare server's), and each on a new
// channel (connect included); 1 MiB uploads on the warm channel against writing 1 MiB
// durably in the same folder.
void Bench::latency_1MiB(TransferClient& client, TransferClient& bare_client,
                         const PeerProcess& peer, const std::vector<uint8_t>& source) {
  const std::string one = "size-" + std::to_string(kMiB);
  std::vector<double> warm, bare, cold, up;
  for (int i = 0; i < plan_.latency_runs; ++i) {
    auto t0 = Clock::now();
    to_memory(client, one);
    warm.push_back(since_ms(t0));
    t0 = Clock::now();
    to_memory(bare_client, one);
    bare.push_back(since_ms(t0));
    t0 = Clock::now();
    TransferClient fresh(peer.grpc_address());
    to_memory(fresh, one);
    cold.push_back(since_ms(t0));
    t0 = Clock::now();
    const std::string target = "small-" + std::to_string(i);
    client.upload_from(
        [&, sent = uint64_t{0}](char* buf, size_t n) mutable -> ssize_t {
          n = std::min<uint64_t>(n, kMiB - sent);
          std::memcpy(buf, source.data() + sent, n);
          sent += n;
          return static_cast<ssize_t>(n);
        },
        kMiB, target);
    up.push_back(since_ms(t0));
    fs::remove(peer.share() / target);
  }
  const double durable = durable_write_ms(peer.share(), kMiB, plan_.latency_runs);
  std::printf(
      "  1 MiB over %d runs, p50 (p99):\n"
      "    download, warm channel %.2f ms (%.2f); bare server %.2f ms (%.2f)\n"
      "    download, new channel  %.2f ms (%.2f)\n"
      "    upload, warm channel   %.2f ms (%.2f) = %.2fx writing 1 MiB durably (%.2f ms)\n",
      plan_.latency_runs, quantile(warm, 0.5), quantile(warm, 0.99), quantile(bare, 0.5),
      quantile(bare, 0.99), quantile(cold, 0.5), quantile(cold, 0.99), quantile(up, 0.5),
      quantile(up, 0.99), quantile(up, 0.5) / durable, durable);
  out_["latency_1MiB"] = boost::json::object{{"runs", plan_.latency_runs},
                                             {"p50_ms", quantile(warm, 0.5)},
                                             {"p99_ms", quantile(warm, 0.99)},
                                             {"bare_p50_ms", quantile(bare, 0.5)},
                                             {"new_channel_p50_ms", quantile(cold, 0.5)},
                                             {"upload_p50_ms", quantile(up, 0.5)},
                                             {"durable_write_ms", durable}};
}

// On a fresh peer, so that nothing an earlier phase left in its heap counts: RSS idle,
// then the peak during one download and during one upload of the plan's largest size.
void Bench::memory() {
  const uint64_t size = plan_.sizes.back();
  const std::string name = "size-" + std::to_string(size);
  fs::create_directories(work_ / "R");
  fs::create_hard_link(work_ / "M" / name, work_ / "R" / name);
  PeerProcess peer(bin_, work_, "R");
  std::this_thread::sleep_for(milliseconds(500));
  const uint64_t idle = peer.rss_kb();
  TransferClient client(peer.grpc_address());
  peer.reset_peak();
  client.download(name, [](std::string_view) { return true; });
  const uint64_t download_peak = peer.peak_rss_kb();
  peer.reset_peak();
  std::vector<char> block(64 * 1024, 'z');
  uint64_t sent = 0;
  client.upload_from(
      [&](char* buf, size_t n) -> ssize_t {
        n = std::min<uint64_t>(n, size - sent);
        std::memcpy(buf, block.data(), std::min(n, block.size()));
        sent += n;
        return static_cast<ssize_t>(n);
      },
      size, "memory-upload");
  const uint64_t upload_peak = peer.peak_rss_kb();
  out_["memory"] = boost::json::object{{"idle_rss_kb", idle},
                                       {"download_peak_rss_kb", download_peak},
                                       {"upload_peak_rss_kb", upload_peak},
                                       {"peak_measured_bytes", size}};
  std::printf(
      "\nMemory (peer RSS, fresh peer)\n  idle %llu kB; peak during a %s download %llu kB, upload "
      "%llu kB\n",
      static_cast<unsigned long long>(idle), size_label(size).c_str(),
      static_cast<unsigned long long>(download_peak), static_cast<unsigned long long>(upload_peak));
}

void Bench::failover() {
  boost::json::array rows;
  std::printf(
      "\nFailover (titular down, file on the suplente; timeout_ms 3000)\n  %-14s %10s %10s\n",
      "case", "first ms", "next ms");
  PeerProcess holder(bin_, work_, "H");
  std::ofstream(holder.share() / "wanted.txt") << "here";
  for (const char* c : {"titular_dead", "titular_hung"}) {
    PeerProcess titular(bin_, work_, std::string("T-") + c);
    PeerProcess asker(
        bin_, work_, std::string("F-") + c,
        R"("peer_titular":")" + titular.url() + R"(","peer_suplente":")" + holder.url() + "\"");
    std::this_thread::sleep_for(milliseconds(200));
    bool present = false;
    timed_search(*parse_http_url(asker.url()), "wanted.txt", present);  // warm connections
    if (std::string_view(c) == "titular_dead")
      titular.kill();
    else
      titular.suspend();
    const auto url = *parse_http_url(asker.url());
    const double first = timed_search(url, "wanted.txt", present);
    bool all_present = present;
    std::vector<double> next;
    for (int i = 0; i < plan_.failover_next; ++i) {
      next.push_back(timed_search(url, "wanted.txt", present));
      all_present = all_present && present;
    }
    const double next_ms = median(next);
    std::printf("  %-14s %10.1f %10.2f%s\n", c, first, next_ms, all_present ? "" : "  (NOT FOUND)");
    rows.push_back(boost::json::object{
        {"case", c}, {"first_ms", first}, {"next_ms", next_ms}, {"found", all_present}});
    titular.resume();
  }
  out_["failover"] = std::move(rows);
}

boost::json::object Bench::run(const std::string& only) {
  const auto wanted = [&](std::string_view phase) { return only.empty() || only == phase; };
  if (wanted("rest") || wanted("transfers")) ceilings();  // the ratios need them
  if (wanted("rest")) rest();
  if (wanted("transfers")) transfers();
  if (wanted("transfers")) memory();  // on the transfers' files
  if (wanted("failover")) failover();
  if (wanted("content")) content();
  if (wanted("http")) http();
  if (wanted("swarm")) swarm();
  return out_;
}

}  // namespace

int main(int argc, char** argv) {
  // The load generator holds up to a thousand large replies at once: keep freed memory
  // rather than fault it back in (trimming cut /listado_10k at 100 connections to a fifth).
  mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
  mallopt(M_MMAP_THRESHOLD, 64 * 1024 * 1024);
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  CLI::App app{"p2p-bench: measures p2p-share peers on this machine"};
  bool quick = false;
  std::string out = "bench/results/latest.json";
  const fs::path here = fs::canonical("/proc/self/exe").parent_path();
  std::string peer_bin = (here / "p2p-peer").string();
  std::string bare_bin = (here / "p2p-bench-grpc").string();
  std::string work_parent = fs::temp_directory_path().string();
  app.add_flag("--quick", quick, "a reduced set, in under a minute");
  app.add_option("-o,--output", out, "where to write the JSON results (a .png goes beside it)");
  app.add_option("--peer-bin", peer_bin, "the p2p-peer to measure");
  app.add_option("--bare-grpc-bin", bare_bin, "the bare gRPC server downloads are read against");
  app.add_option("--workdir", work_parent, "where the temporary peers and files go");
  bool keep = false;
  app.add_flag("--keep", keep, "keep the work folder (peer logs, configs) for inspection");
  std::string target;
  app.add_option("--target", target,
                 "measure REST on a running peer (http://HOST:PORT) instead of starting peers: "
                 "/listado, /health and /buscar of a file it lists");
  std::string only;
  app.add_option("--only", only,
                 "run one phase: rest, transfers (and memory), failover, content, http, swarm")
      ->check(CLI::IsMember({"rest", "transfers", "failover", "content", "http", "swarm"}));
  // Where the build found scripts/swarm; an installed p2p-bench is told where it is.
  std::string swarm_script = P2P_SWARM_SCRIPT;
  app.add_option("--swarm-script", swarm_script, "scripts/swarm, which the swarm phase runs");
  CLI11_PARSE(app, argc, argv);

  char tmpl[4096];
  std::snprintf(tmpl, sizeof tmpl, "%s/p2p-bench-XXXXXX", work_parent.c_str());
  if (!::mkdtemp(tmpl)) {
    std::perror("p2p-bench: mkdtemp");
    return 1;
  }
  const fs::path work = tmpl;
  int status = 0;
  try {
    const auto start = Clock::now();
    Bench bench(make_plan(quick), peer_bin, bare_bin, swarm_script, work);
    std::optional<HttpUrl> against;
    if (!target.empty()) {
      auto url = parse_http_url(target);
      if (!url || url->tls)
        throw std::runtime_error("--target '" + target +
                                 "': " + (url ? "https is not supported here" : url.error().why));
      against = std::move(url).value();
    }
    auto result = against ? bench.run_against(*against) : bench.run(only);
    result["quick"] = quick;
    result["seconds"] = std::chrono::duration<double>(Clock::now() - start).count();
    fs::create_directories(fs::path(out).parent_path().empty() ? "." : fs::path(out).parent_path());
    std::ofstream(out) << boost::json::serialize(result) << "\n";
    const auto png = fs::path(out).replace_extension(".png");
    const bool plotted = !against && only.empty() && plot(result, work, png);
    std::printf("\nWrote %s%s in %.0f s\n", out.c_str(),
                plotted ? (" and " + png.string()).c_str() : "", result["seconds"].as_double());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "p2p-bench: %s\n", e.what());
    status = 1;
  }
  std::error_code ec;
  if (keep)
    std::printf("Kept %s\n", work.c_str());
  else
    fs::remove_all(work, ec);
  return status;
}
