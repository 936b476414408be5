// The REST routes (docs/openapi.json describes each): what each answers, with no sockets in sight.
#pragma once

#include <asio/awaitable.hpp>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include "core/config.hpp"
#include "core/metrics.hpp"
#include "http/message.hpp"
#include "index/file_index.hpp"
#include "peer/http_files.hpp"
#include "search/peer_set.hpp"
#include "search/search.hpp"

namespace p2p {

class RestApi {
 public:
  RestApi(const Config& cfg, FileIndex& index, PeerSet& peers, DistributedSearch& search,
          std::string instance_id);

  asio::awaitable<http::Response> handle(http::Request& req);

  enum class Endpoint {
    listado,
    buscar,
    health,
    peers_get,
    peers_post,
    openapi,
    metrics,
    transfers,
    file_get,
    file_put,
    root,
    ui_page,
    ui_script,
    ui_style
  };
  struct Route {
    std::string_view method;  // a GET route answers HEAD too
    std::string_view path;    // a path ending in "{name}" matches any path with its prefix
    Endpoint endpoint;
  };
  // Every route handle() answers; it dispatches through this table alone, and
  // docs/openapi.json (served at /openapi.json) describes each entry.
  static std::span<const Route> routes();

  // The gRPC port actually bound (config may say 0).
  void set_grpc_port(uint16_t port) { grpc_port_.store(port); }
  // The DHT node's UDP port (shown in /health), and what to do with a DHT node an
  // announcement names (host, port): join the DHT through it. Set before serving.
  void set_dht(uint16_t port, std::function<void(const std::string&, uint16_t)> on_node) {
    dht_port_ = port;
    on_dht_node_ = std::move(on_node);
  }
  // GET/HEAD/PUT /archivos/ and /transfers are answered through these (set before serving).
  void set_files(HttpFiles* files, FileService* service) {
    files_ = files;
    service_ = service;
  }
  // From now on every request gets 503.
  void set_shutting_down() { shutting_down_.store(true); }

  // GET /metrics answers with what this writes (the peer's components, then ours).
  void set_metrics_writer(std::function<void(metrics::Exposition&)> writer) {
    metrics_writer_ = std::move(writer);
  }
  // p2p_http_requests_total and p2p_http_request_duration_seconds by route and status.
  void write_metrics(metrics::Exposition& e) const;

  // Where this peer's gRPC server is reachable by whoever sent `req` (docs/design.md, section 4).
  std::string grpc_address_for(const http::Request& req) const;
  // This peer's REST URL as whoever sent `req` reaches it: the same host, the port it came in on.
  std::string rest_url_for(const http::Request& req) const;

 private:
  http::Response listado(const http::Request& req);
  asio::awaitable<http::Response> buscar(const http::Request& req);
  http::Response health();
  http::Response peers_get();
  http::Response peers_post(const http::Request& req);
  http::Response openapi();
  http::Response metrics_text();
  http::Response transfers();
  // The web page's files (src/peer/ui, built into the binary).
  static http::Response ui_file(Endpoint which);
  // The host this peer is reached at by whoever sent `req`: advertise_host, else ip unless it
  // is a wildcard, else the local address `req` arrived on.
  std::string advertised_host(const http::Request& req) const;
  // Routes the request; `route` becomes the index of the route it matched (by path).
  asio::awaitable<http::Response> dispatch(http::Request& req, size_t& route);

  // One series per route (kRoutes, then "other") and status (kStatuses, then "other").
  static constexpr size_t kRouteSlots = 16, kStatusSlots = 24;
  metrics::LazySlots<metrics::DurationHistogram, kRouteSlots * kStatusSlots> requests_;
  std::function<void(metrics::Exposition&)> metrics_writer_;

  HttpFiles* files_ = nullptr;
  FileService* service_ = nullptr;
  uint16_t dht_port_ = 0;
  std::function<void(const std::string&, uint16_t)> on_dht_node_;

  const Config& cfg_;
  FileIndex& index_;
  PeerSet& peers_;
  DistributedSearch& search_;
  const std::string instance_id_;
  std::atomic<uint16_t> grpc_port_;
  std::atomic<bool> shutting_down_{false};
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();

  // /listado is rebuilt only when the index publishes a new snapshot.
  std::mutex listing_mutex_;
  std::shared_ptr<const IndexSnapshot> listing_snapshot_;
  std::shared_ptr<const http::SharedBody> listing_body_;
  std::string listing_grpc_address_;  // with uri_style "grpc", the address the URIs name
};

}  // namespace p2p
