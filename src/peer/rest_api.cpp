#include "peer/rest_api.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "core/names.hpp"
#include "core/uri.hpp"

namespace p2p {
namespace {

bool is_wildcard(std::string_view ip) { return ip == "0.0.0.0" || ip == "::" || ip == "[::]"; }

http::Response json_ok(const boost::json::value& v) {
  http::Response r;
  r.body = boost::json::serialize(v);
  return r;
}

}  // namespace

RestApi::RestApi(const Config& cfg, FileIndex& index)
    : cfg_(cfg), index_(index), grpc_port_(cfg.grpc_port) {}

std::string RestApi::grpc_address_for(const http::Request& req) const {
  const uint16_t port = grpc_port_.load(std::memory_order_relaxed);
  if (!cfg_.advertise_host.empty()) return host_port(cfg_.advertise_host, port);
  if (!is_wildcard(cfg_.ip)) return host_port(cfg_.ip, port);
  auto addr = req.local.address();
  if (addr.is_v6() && addr.to_v6().is_v4_mapped())
    addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
  return host_port(addr.to_string(), port);
}

asio::awaitable<http::Response> RestApi::handle(http::Request& req) {
  if (shutting_down_.load(std::memory_order_relaxed)) {
    auto r = http::json_error(503, "peer is shutting down");
    r.close = true;
    co_return r;
  }
  const std::string_view path = req.path();
  const bool get = req.method == "GET" || req.method == "HEAD";
  if (path == "/listado" || path == "/buscar" || path == "/health") {
    if (!get) co_return http::json_error(405, "method not allowed; use GET");
    if (path == "/listado") co_return listado();
    if (path == "/buscar") co_return buscar(req);
    co_return health();
  }
  co_return http::json_error(404, "no such route: " + std::string(path));
}

http::Response RestApi::listado() {
  const auto snap = index_.snapshot();
  http::Response r;
  std::lock_guard lock(listing_mutex_);
  if (snap != listing_snapshot_) {
    boost::json::array files;
    files.reserve(snap->files.size());
    for (const auto& f : snap->files)
      files.push_back(boost::json::object{{"name", f.name}, {"size", f.size}, {"uri", f.uri}});
    listing_body_ = boost::json::serialize(files);
    listing_snapshot_ = snap;
  }
  r.body = listing_body_;
  return r;
}

http::Response RestApi::buscar(const http::Request& req) {
  bool malformed = false;
  const auto name = query_value(req.query(), "archivo", &malformed);
  if (malformed) return http::json_error(400, "the archivo parameter has a malformed %-escape");
  if (!name)
    return http::json_error(400, "missing query parameter archivo (GET /buscar?archivo=NAME)");
  const std::string_view wanted = trim(*name);
  if (auto problem = file_name_problem(wanted); !problem.empty())
    return http::json_error(400, "invalid archivo: " + std::string(problem));

  const auto snap = index_.snapshot();
  if (const FileEntry* e = snap->find(wanted)) {
    return json_ok(boost::json::object{{"present", true},
                                       {"grpc_address", grpc_address_for(req)},
                                       {"filename", e->name},
                                       {"size", e->size}});
  }
  return json_ok(boost::json::object{{"present", false}});
}

http::Response RestApi::health() {
  const auto snap = index_.snapshot();
  const auto uptime =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_);
  return json_ok(boost::json::object{{"status", "ok"},
                                     {"name", cfg_.name},
                                     {"files", snap->files.size()},
                                     {"bytes", snap->total_bytes},
                                     {"uptime_s", uptime.count()}});
}

}  // namespace p2p
