#include "peer/peer.hpp"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <spdlog/spdlog.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <csignal>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "content/sha256.hpp"
#include "core/uri.hpp"
#include "http/tls.hpp"
#include "io/uring_probe.hpp"
#include "peer/sd_notify.hpp"
#include "search/announcement.hpp"
#include "transfer/credentials.hpp"
#ifdef P2P_HAVE_DHT
#include "discovery/dht_node.hpp"
#else
namespace p2p {
// Built without OpenDHT (meson -Ddht=disabled): Peer::dht_ stays empty.
class DhtNode {};
}  // namespace p2p
#endif

namespace p2p {

constexpr std::chrono::seconds kAnnounceEvery{30};

namespace {

// The hash cache's file, once its folder exists; none (hashes kept in memory only, and
// computed again at the next start) when state_dir cannot be created.
std::optional<std::filesystem::path> hash_cache_location(const Config& cfg) {
  std::error_code ec;
  std::filesystem::create_directories(cfg.state_dir, ec);
  if (ec) {
    spdlog::warn("Cannot create state_dir {} ({}): file hashes will not be kept across restarts",
                 cfg.state_dir.string(), ec.message());
    return std::nullopt;
  }
  return hash_cache_file(cfg);
}

}  // namespace

Peer::Peer(Config cfg)
    : cfg_(std::move(cfg)),
      ctx_(static_cast<int>(cfg_.threads)),
      index_(cfg_.directory),
      watcher_(ctx_.get_executor(), index_),
      instance_id_(new_query_id()),
      client_(ctx_.get_executor()),
      peers_(cfg_.peer_titular, cfg_.peer_suplente),
      search_(cfg_, index_, peers_, client_),
      api_(cfg_, index_, peers_, search_, instance_id_),
      http_(
          ctx_, [this](http::Request& req) { return api_.handle(req); },
          http::ServerLimits{.parser = {},
                             .idle_timeout = std::chrono::milliseconds(cfg_.http_idle_timeout_ms),
                             .max_connections = cfg_.max_http_connections,
                             .multithreaded = cfg_.threads > 1}),
      folder_(cfg_.directory),
      hasher_(index_, folder_, hash_cache_location(cfg_), cfg_.piece_size),
      files_(ctx_, index_, folder_,
             TransferOptions{.chunk_size = cfg_.chunk_size,
                             .max_upload_bytes = cfg_.max_upload_bytes,
                             .allow_overwrite = cfg_.allow_overwrite,
                             .max_transfers = cfg_.max_transfers,
                             .upload_token = cfg_.upload_token,
                             .piece_size = cfg_.piece_size,
                             .max_upload_rate = cfg_.max_upload_rate},
             [this](const HashedFile& h) { hasher_.learned(h); }),
      http_files_(files_),
      signals_(ctx_, SIGINT, SIGTERM) {
  api_.set_files(&http_files_, &files_);
}

Peer::~Peer() {
  if (grpc_shutdown_.joinable()) grpc_shutdown_.join();
}

void Peer::start_dht() {
#ifdef P2P_HAVE_DHT
  if (!cfg_.dht) {
    spdlog::info("DHT off (config dht: false): searches walk the neighbours only");
    return;
  }
  dht_ = std::make_unique<DhtNode>(
      ctx_.get_executor(), DhtOptions{.ip = cfg_.ip,
                                      .port = cfg_.dht_port,
                                      .network = cfg_.dht_network,
                                      .value_ttl = std::chrono::seconds(cfg_.dht_value_ttl_s)});
  spdlog::info("DHT node listening on {} (network {})", host_port(cfg_.ip, dht_->port()),
               cfg_.dht_network);
  for (const auto& node : cfg_.dht_bootstrap) {
    if (const auto url = parse_host_port(node)) join_dht(url->host, url->port);
  }
  search_.set_discovery(dht_.get());
  api_.set_dht(dht_->port(),
               [this](const std::string& host, uint16_t port) { join_dht(host, port); });
  asio::co_spawn(ctx_, publish_files(), asio::detached);
#else
  if (cfg_.dht) spdlog::info("DHT off: this p2p-peer was built without it (meson -Ddht)");
#endif
}

void Peer::join_dht([[maybe_unused]] const std::string& host, [[maybe_unused]] uint16_t port) {
#ifdef P2P_HAVE_DHT
  if (dht_) dht_->bootstrap(host, port);
#endif
}

uint16_t Peer::dht_port() const {
#ifdef P2P_HAVE_DHT
  if (dht_) return dht_->port();
#endif
  return 0;
}

asio::awaitable<void> Peer::join_dht_of(HttpUrl neighbour) {
  const auto r = co_await client_.get(
      neighbour, "/health",
      std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg_.timeout_ms));
  if (!r.ok() || r.status != 200) co_return;
  boost::system::error_code ec;
  const auto health = boost::json::parse(r.body, ec);
  const auto* port =
      !ec && health.is_object() ? health.as_object().if_contains("dht_port") : nullptr;
  // A Python original, or a peer without a DHT, has none.
  if (port && port->is_int64() && port->as_int64() > 0 && port->as_int64() <= 65535)
    join_dht(neighbour.host, static_cast<uint16_t>(port->as_int64()));
}

asio::awaitable<void> Peer::publish_files() {
#ifdef P2P_HAVE_DHT
  const std::string host = cfg_.advertise_host.empty() ? cfg_.ip : cfg_.advertise_host;
  if (is_wildcard_host(host)) {
    spdlog::warn(
        "Files are not published in the DHT: ip is {} and advertise_host is not set, so no "
        "address to give other peers is known (set advertise_host)",
        cfg_.ip);
    co_return;
  }
  const std::string url =
      (cfg_.tls_cert.empty() ? "http://" : "https://") + host_port(host, rest_endpoint_.port());
  const std::string grpc = host_port(host, grpc_port_);
  std::shared_ptr<const IndexSnapshot> published;
  asio::steady_timer timer(ctx_);
  // Changes are picked up once a second: a burst of them (a copy of many files, the hasher's
  // batches) becomes one diff, paced by the node.
  while (!stopping_) {
    if (auto snap = index_.snapshot(); snap != published) {
      std::vector<HolderRecord> records;
      records.reserve(snap->files.size());
      for (const FileEntry& f : snap->files)
        records.push_back(
            {url, grpc, f.name, f.size, f.manifest ? to_hex(f.manifest->sha256) : std::string()});
      dht_->publish(std::move(records));
      published = std::move(snap);
    }
    timer.expires_after(std::chrono::seconds(1));
    co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  }
#else
  co_return;
#endif
}

void Peer::start_grpc() {
  // What stock tools expect of a gRPC server: grpc.health.v1.Health (grpc_health_probe,
  // load balancers) and server reflection (grpcurl without .proto files). Both must be
  // set up before the builder exists.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(host_port(cfg_.ip, cfg_.grpc_port),
                           server_credentials(cfg_.tls_cert, cfg_.tls_key), &port);
  builder.RegisterService(&files_);
  // Reflection is a sync-API service: its poller threads wait on their completion queue
  // up to this long, and Shutdown may wait for them (10 s by default: once in CI a
  // stop took 10.5 s instead of under 1).
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::CQ_TIMEOUT_MSEC, 500);
  // Uploads from other clients may use chunks larger than ours.
  builder.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  builder.SetMaxSendMessageSize(64 * 1024 * 1024);
  // Dead clients are found by keepalive pings; idle connections are closed; and the
  // pings our own client sends during a stalled transfer (every 10 s) are welcome.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                             static_cast<int>(cfg_.grpc_max_connection_idle_ms));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  // Downloads batch their writes (a buffer hint on all but some): gRPC completes a buffered
  // write at once while less than this is pending, so the stream needs fewer socket writes
  // and thread hops (measured: -20% CPU per GiB sent). What it holds of a download is
  // bounded by that download's read-ahead buffers, which its slices point into.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_WRITE_BUFFER_SIZE, 4 * 1024 * 1024);
  // What an upload may have in flight towards us is left to the BDP probe (gRPC's default).
  // With the probe off, gRPC 1.51 keeps the connection's window at 64 KiB whatever the
  // stream window (GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES only sizes the latter): uploads
  // then ran at 64 KiB per round trip, 1.6 MB/s at 40 ms (docs/performance.md, upload
  // window). The probe's window costs memory only where we read slower than the path
  // delivers, as on loopback (a 1 GiB upload peaks at 55-108 MB of RSS there).
  grpc_ = builder.BuildAndStart();
  if (!grpc_ || port == 0)
    throw std::runtime_error("cannot listen for gRPC on " + host_port(cfg_.ip, cfg_.grpc_port));
  grpc_port_ = static_cast<uint16_t>(port);
  api_.set_grpc_port(grpc_port_);
  // "" (the whole server) is SERVING from the start; the file service by name too.
  grpc_->GetHealthCheckService()->SetServingStatus(transfer::FileService::service_full_name(),
                                                   true);
  spdlog::info("gRPC server listening on {}", host_port(cfg_.ip, static_cast<uint16_t>(port)));
}

int Peer::run() {
  spdlog::info("Config file: {}", cfg_.source);
  for (const auto& f : cfg_.unknown_fields)
    spdlog::warn("Config {}: unknown field '{}' ignored", cfg_.source, f);

  if (const auto uring = check_io_uring(); !uring) {
    spdlog::critical(
        "Cannot start: io_uring is not available ({}), and every file transfer goes through "
        "it. A seccomp policy blocks it (Docker 25+ by default: see README, Docker)",
        uring.error().why);
    return 1;
  }
  if (const size_t stale = folder_.remove_stale_temps())
    spdlog::warn("Removed {} temporary files left by an interrupted upload", stale);
  index_.rescan();
  hasher_.start();
  // https peers are verified against tls_ca; without it, against the system's CAs, loaded
  // when an https peer is first called (OpenSSL's tables cost a peer that never needs them
  // about 4 MB of RSS).
  if (!cfg_.tls_ca.empty()) client_.set_tls(http::client_tls_context(cfg_.tls_ca));
  if (!cfg_.tls_cert.empty()) {
    http_.set_tls(http::server_tls_context(cfg_.tls_cert, cfg_.tls_key));
    spdlog::info("TLS on for REST (HTTPS) and gRPC: certificate {}", cfg_.tls_cert);
    for (const auto& url : {cfg_.peer_titular, cfg_.peer_suplente})
      if (url && !url->tls)
        spdlog::warn(
            "Peer {} is plain http: searches forwarded to it are not encrypted, and "
            "its answers are not authenticated",
            url->str());
  }
  api_.set_metrics_writer([this](metrics::Exposition& e) { write_metrics(e); });
  spdlog::info("Sharing folder {}: {} files", cfg_.directory.string(),
               index_.snapshot()->files.size());

  // First, so that a DHT port in use stops the peer before it says it listens.
  start_dht();
  rest_endpoint_ = http_.listen(cfg_.ip, cfg_.rest_port);
  spdlog::info("REST server listening on {}",
               host_port(rest_endpoint_.address().to_string(), rest_endpoint_.port()));
  start_grpc();
  spdlog::info("Peer titular: {}; peer suplente: {}",
               cfg_.peer_titular ? cfg_.peer_titular->str() : "none",
               cfg_.peer_suplente ? cfg_.peer_suplente->str() : "none");

  watcher_.start();
  asio::co_spawn(ctx_, announce(), asio::detached);
  http_.start();
  signals_.async_wait([this](const std::error_code& ec, int sig) {
    if (!ec) shutdown(sig);
  });
  // Both servers listen (connections queue until the loop runs): a Type=notify unit may
  // count the peer as started.
  sd_notify("READY=1\nSTATUS=serving " + std::to_string(index_.snapshot()->files.size()) +
            " files; REST port " + std::to_string(rest_endpoint_.port()) + ", gRPC port " +
            std::to_string(grpc_port_));

  std::vector<std::thread> extra;
  for (uint32_t i = 1; i < cfg_.threads; ++i) extra.emplace_back([this] { ctx_.run(); });
  ctx_.run();
  for (auto& t : extra) t.join();
  if (grpc_shutdown_.joinable()) grpc_shutdown_.join();
#ifdef P2P_HAVE_DHT
  // Its values are no longer announced again; the copies other nodes hold expire.
  if (dht_) dht_->stop(std::chrono::milliseconds(500));
#endif
  hasher_.stop();
  spdlog::info("Stopped");
  return 0;
}

void Peer::write_metrics(metrics::Exposition& e) const {
  hasher_.write_metrics(e);
  search_.write_metrics(e);
  files_.metrics().write(e, files_.active_transfers());
  http_files_.write_metrics(e);
  e.family("p2p_grpc_max_upload_rate_bytes", "gauge",
           "max_upload_rate: bytes per second this peer sends at most, over all downloads (0: "
           "unlimited).");
  e.sample("p2p_grpc_max_upload_rate_bytes", {}, cfg_.max_upload_rate);
  peers_.write_metrics(e, std::chrono::steady_clock::now());
#ifdef P2P_HAVE_DHT
  if (dht_) dht_->write_metrics(e);
#endif
  const auto snap = index_.snapshot();
  e.family("p2p_index_files", "gauge", "Files the peer shares.");
  e.sample("p2p_index_files", {}, static_cast<uint64_t>(snap->files.size()));
  e.family("p2p_index_bytes", "gauge", "Total size of the files the peer shares.");
  e.sample("p2p_index_bytes", {}, static_cast<uint64_t>(snap->total_bytes));
  http_.write_metrics(e);
  e.family("p2p_http_connections", "gauge", "Open REST connections.");
  e.sample("p2p_http_connections", {}, static_cast<uint64_t>(http_.connections()));
  metrics::write_process_metrics(e);
}

asio::awaitable<void> Peer::announce() {
  const std::string host = cfg_.advertise_host.empty() ? cfg_.ip : cfg_.advertise_host;
  const std::string scheme = cfg_.tls_cert.empty() ? "http://" : "https://";
  const std::string text =
      announcement_body({scheme + host_port(host, rest_endpoint_.port()),
                         host_port(host, grpc_port_), cfg_.name, instance_id_, dht_port()});
  asio::steady_timer timer(ctx_);
  auto retry = std::chrono::seconds(1);
  for (bool first = true; !stopping_; first = false) {
    bool all_heard = true;
    for (const auto& url : {cfg_.peer_titular, cfg_.peer_suplente}) {
      if (!url || stopping_) continue;
      const auto r = co_await client_.request(
          *url, "POST", "/peers", text,
          std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg_.timeout_ms));
      // Said once at start; later rounds only refresh what the neighbours know.
      const bool heard = r.ok() && r.status == 200;
      all_heard = all_heard && heard;
      if (heard && dht_port() != 0) co_await join_dht_of(*url);
      if (first && heard)
        spdlog::info("Announced to {}", url->str());
      else if (first)
        spdlog::info("Could not announce to {} yet ({}); will retry", url->str(),
                     r.ok() ? "status " + std::to_string(r.status) : r.message);
    }
    // A neighbour that was not up yet is tried again soon, backing off to the usual pace.
    retry = all_heard ? kAnnounceEvery : std::min(retry * 2, kAnnounceEvery);
    timer.expires_after(retry);
    co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  }
}

void Peer::shutdown(int sig) {
  stopping_ = true;
  api_.set_shutting_down();
  files_.set_shutting_down();
  // Said once new work is refused: whoever reads the line may count on it.
  spdlog::info("Received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  sd_notify("STOPPING=1\nSTATUS=shutting down");
  http_.stop();
  watcher_.stop();
  // Health checks see NOT_SERVING for the whole grace period, so balancers and probes
  // send new work elsewhere while transfers in flight finish.
  grpc_->GetHealthCheckService()->SetServingStatus(false);
  asio::co_spawn(ctx_, drain_and_stop(), asio::detached);
}

asio::awaitable<void> Peer::drain_and_stop() {
  // Transfers in flight get the grace period to finish while the server, still accepting,
  // answers new ones UNAVAILABLE itself (after grpc::Server::Shutdown a new call would be
  // cancelled instead).
  const auto grace = std::chrono::milliseconds(cfg_.shutdown_grace_ms);
  if (const size_t n = files_.active_transfers())
    spdlog::info("Waiting up to {} ms for {} transfers in flight", grace.count(), n);
  co_await transfers_end(grace);
  if (const size_t n = files_.active_transfers()) {
    spdlog::warn("Stopping {} transfers still running after {} ms", n, grace.count());
    files_.abort_transfers();
    // HTTP transfers waiting on their client (one that stopped reading, or sending) end
    // when their connection is closed; gRPC's are cancelled by Shutdown below.
    http_.close_connections();
    co_await transfers_end(std::chrono::seconds(1));
  }
  // What is still stuck (a receiver that stopped reading) is cancelled by gRPC. Shutdown
  // blocks while those calls end on the io_context: it gets a thread of its own.
  grpc_shutdown_ = std::thread([this] {
    grpc_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
    ctx_.stop();
  });
}

asio::awaitable<void> Peer::transfers_end(std::chrono::milliseconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  asio::steady_timer poll(ctx_);
  while (files_.active_transfers() > 0 && std::chrono::steady_clock::now() < deadline) {
    poll.expires_after(std::chrono::milliseconds(20));
    co_await poll.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  }
}

}  // namespace p2p
