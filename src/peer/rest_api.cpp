#include "peer/rest_api.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <optional>

#include "content/sha256.hpp"
#include "core/uri.hpp"
#include "peer/openapi.hpp"
#include "peer/ui.hpp"
#include "search/announcement.hpp"
#include "search/query.hpp"
#include "search/reply.hpp"

namespace p2p {
namespace {

// An endpoint's address as text, with IPv4-mapped IPv6 (::ffff:a.b.c.d) shown as IPv4.
std::string plain_address(const asio::ip::tcp::endpoint& ep) {
  auto addr = ep.address();
  if (addr.is_v6() && addr.to_v6().is_v4_mapped())
    addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
  return addr.to_string();
}

http::Response json_ok(const boost::json::value& v) {
  http::Response r;
  r.body = boost::json::serialize(v);
  return r;
}

}  // namespace

RestApi::RestApi(const Config& cfg, FileIndex& index, PeerSet& peers, DistributedSearch& search,
                 std::string instance_id)
    : cfg_(cfg),
      index_(index),
      peers_(peers),
      search_(search),
      instance_id_(std::move(instance_id)),
      grpc_port_(cfg.grpc_port) {}

std::string RestApi::advertised_host(const http::Request& req) const {
  if (!cfg_.advertise_host.empty()) return cfg_.advertise_host;
  if (!is_wildcard_host(cfg_.ip)) return cfg_.ip;
  return plain_address(req.local);
}

std::string RestApi::grpc_address_for(const http::Request& req) const {
  return host_port(advertised_host(req), grpc_port_.load(std::memory_order_relaxed));
}

std::string RestApi::rest_url_for(const http::Request& req) const {
  const char* scheme = cfg_.tls_cert.empty() ? "http://" : "https://";
  return scheme + host_port(advertised_host(req), req.local.port());
}

namespace {

constexpr std::array kRoutes{
    RestApi::Route{"GET", "/listado", RestApi::Endpoint::listado},
    RestApi::Route{"GET", "/buscar", RestApi::Endpoint::buscar},
    RestApi::Route{"GET", "/health", RestApi::Endpoint::health},
    RestApi::Route{"GET", "/peers", RestApi::Endpoint::peers_get},
    RestApi::Route{"POST", "/peers", RestApi::Endpoint::peers_post},
    RestApi::Route{"GET", "/openapi.json", RestApi::Endpoint::openapi},
    RestApi::Route{"GET", "/metrics", RestApi::Endpoint::metrics},
    RestApi::Route{"GET", "/transfers", RestApi::Endpoint::transfers},
    RestApi::Route{"GET", "/archivos/{name}", RestApi::Endpoint::file_get},
    RestApi::Route{"PUT", "/archivos/{name}", RestApi::Endpoint::file_put},
    RestApi::Route{"GET", "/", RestApi::Endpoint::root},
    RestApi::Route{"GET", "/ui/", RestApi::Endpoint::ui_page},
    RestApi::Route{"GET", "/ui/app.js", RestApi::Endpoint::ui_script},
    RestApi::Route{"GET", "/ui/app.css", RestApi::Endpoint::ui_style},
};

// The part of `path` a route's "{name}" matches; nullopt when the route does not match.
std::optional<std::string_view> match(std::string_view route, std::string_view path) {
  constexpr std::string_view kParam = "{name}";
  if (!route.ends_with(kParam)) {
    if (route == path) return std::string_view();
    return std::nullopt;
  }
  const auto prefix = route.substr(0, route.size() - kParam.size());
  if (path.size() <= prefix.size() || !path.starts_with(prefix)) return std::nullopt;
  return path.substr(prefix.size());
}

// The web page's policy: its own scripts and styles only (no inline script, nothing from
// elsewhere), no framing, no plugins; links to other peers are plain navigation.
constexpr std::string_view kPageHeaders =
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'\r\nReferrer-Policy: no-referrer\r\nCache-Control: no-cache\r\n";

// The statuses the routes answer with; any other is counted as "other".
// (The server itself answers 408, 413, 414, 431 and some 400s and 503s before any route:
// p2p_http_rejected_total counts those.)
constexpr std::array<int, 17> kStatuses{200, 201, 206, 302, 304, 400, 401, 403, 404,
                                        405, 409, 412, 413, 416, 500, 503, 507};

size_t status_slot(int status) {
  for (size_t i = 0; i < kStatuses.size(); ++i)
    if (kStatuses[i] == status) return i;
  return kStatuses.size();
}

}  // namespace

std::span<const RestApi::Route> RestApi::routes() { return kRoutes; }

asio::awaitable<http::Response> RestApi::handle(http::Request& req) {
  static_assert(kRoutes.size() + 1 <= kRouteSlots && kStatuses.size() + 1 <= kStatusSlots);
  const auto start = std::chrono::steady_clock::now();
  size_t route = kRoutes.size();
  http::Response r = co_await dispatch(req, route);
  requests_
      .at(route * kStatusSlots + status_slot(r.status),
          [] { return std::make_unique<metrics::DurationHistogram>(); })
      .record(std::chrono::steady_clock::now() - start);
  co_return r;
}

void RestApi::write_metrics(metrics::Exposition& e) const {
  auto each = [&](auto&& fn) {
    for (size_t route = 0; route <= kRoutes.size(); ++route)
      for (size_t status = 0; status <= kStatuses.size(); ++status)
        if (const auto* s = requests_.get(route * kStatusSlots + status))
          fn(route < kRoutes.size() ? kRoutes[route] : Route{"other", "other", {}},
             status < kStatuses.size() ? std::to_string(kStatuses[status]) : "other", *s);
  };
  e.family("p2p_http_requests_total", "counter",
           "REST requests answered, by route and status (route \"other\": no route matched: "
           "404, 405, or 503 while shutting down).");
  each([&](const Route& route, const std::string& status, const metrics::DurationHistogram& h) {
    e.sample("p2p_http_requests_total",
             {{"method", route.method}, {"route", route.path}, {"status", status}}, h.count());
  });
  e.family("p2p_http_request_duration_seconds", "histogram",
           "Time from a parsed REST request to its response, by route and status.");
  each([&](const Route& route, const std::string& status, const metrics::DurationHistogram& h) {
    e.histogram("p2p_http_request_duration_seconds",
                {{"method", route.method}, {"route", route.path}, {"status", status}}, h);
  });
}

asio::awaitable<http::Response> RestApi::dispatch(http::Request& req, size_t& route_slot) {
  if (shutting_down_.load(std::memory_order_relaxed)) {
    auto r = http::json_error(503, "peer is shutting down");
    r.close = true;
    co_return r;
  }
  const std::string_view path = req.path();
  // HEAD is GET whose body the server leaves out.
  const std::string_view method = req.method == "HEAD" ? "GET" : std::string_view(req.method);
  const Route* route = nullptr;
  std::string_view param;  // what the route's {name} matched
  std::string allowed;     // the path's methods, for a 405
  for (const Route& r : kRoutes) {
    const auto matched = match(r.path, path);
    if (!matched) continue;
    param = *matched;
    if (r.method == method) {
      route = &r;
      route_slot = static_cast<size_t>(&r - kRoutes.data());
      break;
    }
    allowed += allowed.empty() ? "" : " or ";
    allowed += r.method;
  }
  if (!route) {
    if (!allowed.empty()) co_return http::json_error(405, "method not allowed; use " + allowed);
    co_return http::json_error(404, "no such route: " + std::string(path));
  }
  switch (route->endpoint) {
    case Endpoint::listado:
      co_return listado(req);
    case Endpoint::buscar:
      co_return co_await buscar(req);
    case Endpoint::health:
      co_return health();
    case Endpoint::peers_get:
      co_return peers_get();
    case Endpoint::peers_post:
      co_return peers_post(req);
    case Endpoint::openapi:
      co_return openapi();
    case Endpoint::metrics:
      co_return metrics_text();
    case Endpoint::transfers:
      co_return transfers();
    case Endpoint::file_get:
      if (!files_) break;
      co_return files_->get(req, param);
    case Endpoint::file_put:
      if (!files_) break;
      co_return co_await files_->put(req, param);
    case Endpoint::root: {
      http::Response r;
      r.status = 302;
      r.headers = "Location: /ui/\r\n";
      r.content_type = "text/plain; charset=utf-8";
      r.body = "The page is at /ui/\n";
      co_return r;
    }
    case Endpoint::ui_page:
    case Endpoint::ui_script:
    case Endpoint::ui_style:
      co_return ui_file(route->endpoint);
  }
  co_return http::json_error(500, "route without a handler");
}

http::Response RestApi::listado(const http::Request& req) {
  const auto snap = index_.snapshot();
  // uri_style "grpc" names files as grpc://HOST:PORT/NAME, HOST as the asker reaches us,
  // instead of exposing absolute paths.
  const std::string grpc = cfg_.uri_style_grpc ? grpc_address_for(req) : std::string();
  http::Response r;
  std::lock_guard lock(listing_mutex_);
  if (snap != listing_snapshot_ || grpc != listing_grpc_address_) {
    // Tens of thousands of small objects and strings, all freed together right after.
    boost::json::monotonic_resource mr;
    boost::json::array files(&mr);
    files.reserve(snap->files.size());
    for (const auto& f : snap->files) {
      const std::string uri =
          cfg_.uri_style_grpc ? "grpc://" + grpc + "/" + percent_encode_path(f.name) : f.uri;
      boost::json::object o({{"name", f.name}, {"size", f.size}, {"uri", uri}}, &mr);
      if (f.manifest) o["sha256"] = to_hex(f.manifest->sha256);
      files.push_back(std::move(o));
    }
    listing_body_ = std::make_shared<const http::SharedBody>(boost::json::serialize(files));
    listing_snapshot_ = snap;
    listing_grpc_address_ = grpc;
  }
  r.shared_body = listing_body_;
  return r;
}

asio::awaitable<http::Response> RestApi::buscar(const http::Request& req) {
  auto q = parse_search_query(req.query());
  if (!q) co_return http::json_error(400, q.error().why);
  // Only a holders=N reply names this peer's REST URL: a plain local hit does not build it.
  std::string url = q->holders ? rest_url_for(req) : std::string();
  const SearchOutcome r =
      co_await search_.search(std::move(q).value(), grpc_address_for(req), std::move(url));
  http::Response response;
  response.body = search_reply_body(r.reply);
  co_return response;
}

http::Response RestApi::peers_get() {
  return json_ok(boost::json::object{{"peers", peers_.to_json(std::chrono::steady_clock::now())}});
}

http::Response RestApi::peers_post(const http::Request& req) {
  auto a = parse_announcement(req.body);
  if (!a) return http::json_error(400, "bad announcement: " + a.error().why);
  if (a->id == instance_id_) {
    return json_ok(boost::json::object{{"learned", false}, {"name", cfg_.name}});
  }
  auto url = parse_http_url(a->url);
  if (!url) return http::json_error(400, "bad url '" + a->url + "': " + url.error().why);
  // A TLS peer forwards searches only over TLS: a plaintext peer would see them, and
  // its answers would steer downloads, unauthenticated.
  if (!cfg_.tls_cert.empty() && !url->tls)
    return http::json_error(400, "this peer uses TLS: announce an https:// URL");
  // A peer listening on every interface announces a wildcard; we reach it where it came from.
  const std::string remote = plain_address(req.remote);
  const std::string grpc = replace_wildcard_host(a->grpc_address, remote);
  if (is_wildcard_host(url->host)) url->host = remote;
  const bool learned = peers_.learn(*url, grpc, a->name, std::chrono::steady_clock::now());
  if (learned) spdlog::info("Learned peer {} ({}) at {}", a->name, url->str(), grpc);
  if (a->dht_port != 0 && on_dht_node_) on_dht_node_(url->host, a->dht_port);
  return json_ok(boost::json::object{{"learned", learned}, {"name", cfg_.name}});
}

http::Response RestApi::health() {
  const auto snap = index_.snapshot();
  const auto uptime =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_);
  boost::json::object body{{"status", "ok"},
                           {"name", cfg_.name},
                           {"files", snap->files.size()},
                           {"bytes", snap->total_bytes},
                           {"uptime_s", uptime.count()},
                           {"peers", peers_.to_json(std::chrono::steady_clock::now())}};
  if (dht_port_ != 0) body["dht_port"] = dht_port_;
  // What an uploader (the web page) must know before it sends a body.
  body["upload_token_required"] = !cfg_.upload_token.empty();
  if (cfg_.max_upload_bytes != 0) body["max_upload_bytes"] = cfg_.max_upload_bytes;
  return json_ok(std::move(body));
}

http::Response RestApi::metrics_text() {
  metrics::Exposition e;
  if (metrics_writer_) metrics_writer_(e);
  write_metrics(e);
  http::Response r;
  r.body = e.text();
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  return r;
}

http::Response RestApi::transfers() {
  boost::json::object o{{"active", 0}, {"sent_bytes", 0}, {"received_bytes", 0}};
  if (service_) {
    const TransferMetrics& m = service_->metrics();
    o["active"] = service_->active_transfers();
    o["sent_bytes"] = m.sent_bytes.value() + (files_ ? files_->sent_bytes() : 0);
    o["received_bytes"] = m.received_bytes.value();
  }
  return json_ok(o);
}

http::Response RestApi::ui_file(Endpoint which) {
  // Built into the binary; every response shares one copy of each.
  static const auto page = std::make_shared<const http::SharedBody>(std::string(ui_index_html()));
  static const auto script = std::make_shared<const http::SharedBody>(std::string(ui_app_js()));
  static const auto style = std::make_shared<const http::SharedBody>(std::string(ui_app_css()));
  http::Response r;
  r.headers = kPageHeaders;
  switch (which) {
    case Endpoint::ui_script:
      r.shared_body = script;
      r.content_type = "text/javascript; charset=utf-8";
      break;
    case Endpoint::ui_style:
      r.shared_body = style;
      r.content_type = "text/css; charset=utf-8";
      break;
    default:
      r.shared_body = page;
      r.content_type = "text/html; charset=utf-8";
      break;
  }
  return r;
}

http::Response RestApi::openapi() {
  // docs/openapi.json as built into the binary; every response shares the one copy.
  static const auto body = std::make_shared<const http::SharedBody>(std::string(openapi_json()));
  http::Response r;
  r.shared_body = body;
  return r;
}

}  // namespace p2p
