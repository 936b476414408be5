#include "core/config.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <system_error>
#include <thread>

namespace p2p {
namespace {

namespace od = simdjson::ondemand;

const char* type_name(od::json_type t) {
  switch (t) {
    case od::json_type::array:
      return "an array";
    case od::json_type::object:
      return "an object";
    case od::json_type::number:
      return "a number";
    case od::json_type::string:
      return "a string";
    case od::json_type::boolean:
      return "a boolean";
    case od::json_type::null:
      return "null";
  }
  return "something else";
}

class Reader {
 public:
  explicit Reader(const std::string& source) : source_(source) {}

  [[noreturn]] void fail(std::string_view field, const std::string& what) const {
    if (field.empty()) throw ConfigError(source_ + ": " + what);
    throw ConfigError(source_ + ": field '" + std::string(field) + "': " + what);
  }

  od::json_type type_of(std::string_view field, od::value& v) const {
    od::json_type t;
    if (v.type().get(t)) fail(field, "is not valid JSON");
    return t;
  }

  std::string string(std::string_view field, od::value& v) const {
    const od::json_type t = type_of(field, v);
    if (t != od::json_type::string)
      fail(field, std::string("expected a string, got ") + type_name(t));
    std::string_view s;
    if (v.get_string().get(s)) fail(field, "is not a valid JSON string");
    return std::string(s);
  }

  uint64_t integer(std::string_view field, od::value& v, uint64_t min, uint64_t max) const {
    const od::json_type t = type_of(field, v);
    if (t != od::json_type::number)
      fail(field, std::string("expected an integer, got ") + type_name(t));
    int64_t n;
    if (v.get_int64().get(n)) fail(field, "expected an integer, got a non-integral number");
    if (n < 0 || static_cast<uint64_t>(n) < min || static_cast<uint64_t>(n) > max)
      fail(field, "must be from " + std::to_string(min) + " to " + std::to_string(max) + ", got " +
                      std::to_string(n));
    return static_cast<uint64_t>(n);
  }

  bool boolean(std::string_view field, od::value& v) const {
    const od::json_type t = type_of(field, v);
    if (t != od::json_type::boolean)
      fail(field, std::string("expected true or false, got ") + type_name(t));
    bool b;
    if (v.get_bool().get(b)) fail(field, "is not a valid boolean");
    return b;
  }

  // An array of "host:port" strings.
  std::vector<std::string> host_ports(std::string_view field, od::value& v) const {
    if (type_of(field, v) != od::json_type::array)
      fail(field,
           std::string("expected an array of \"host:port\", got ") + type_name(type_of(field, v)));
    od::array items;
    if (v.get_array().get(items)) fail(field, "is not a valid JSON array");
    std::vector<std::string> out;
    for (auto item : items) {
      od::value e;
      if (item.get(e)) fail(field, "is not a valid JSON array");
      std::string s = string(field, e);
      if (const auto url = parse_host_port(s); !url) fail(field, url.error().why);
      out.push_back(std::move(s));
    }
    return out;
  }

  std::optional<HttpUrl> peer_url(std::string_view field, od::value& v) const {
    if (type_of(field, v) == od::json_type::null) return std::nullopt;
    const std::string s = string(field, v);
    if (s.empty()) return std::nullopt;
    auto url = parse_http_url(s);
    if (!url) fail(field, "'" + s + "' is not a peer URL: " + url.error().why);
    return std::move(url).value();
  }

 private:
  const std::string& source_;
};

}  // namespace

uint32_t default_threads() { return std::clamp(std::thread::hardware_concurrency() / 2, 1u, 8u); }

std::string default_peer_name(const std::filesystem::path& file) {
  std::string stem = file.stem().string();
  if (stem.empty()) return "Peer";
  stem[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(stem[0])));
  return stem;
}

namespace {

std::filesystem::path default_state_dir() {
  if (const char* systemd = std::getenv("STATE_DIRECTORY"); systemd && *systemd)
    return std::filesystem::path(systemd);
  if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg && *xdg)
    return std::filesystem::path(xdg) / "p2p-share";
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::filesystem::path(home) / ".local" / "state" / "p2p-share";
  return std::filesystem::temp_directory_path() / "p2p-share-state";
}

}  // namespace

Config parse_config(std::string_view json, const std::string& source) {
  Reader r(source);
  Config cfg;
  cfg.source = source;
  cfg.name = default_peer_name(source);

  simdjson::padded_string padded(json);
  od::parser parser;
  od::document doc;
  if (parser.iterate(padded).get(doc)) r.fail("", "is not valid JSON");
  od::object obj;
  if (doc.get_object().get(obj)) r.fail("", "must hold a JSON object { ... }");

  bool seen_ip = false, seen_rest = false, seen_grpc = false, seen_dir = false;
  std::string directory, state_dir;
  for (auto field_result : obj) {
    od::field field;
    if (std::move(field_result).get(field)) r.fail("", "is not valid JSON");
    std::string_view key_view;
    if (field.unescaped_key().get(key_view)) r.fail("", "has an invalid key");
    const std::string key(key_view);
    od::value v = field.value();
    if (key == "ip") {
      cfg.ip = r.string(key, v);
      if (cfg.ip.empty()) r.fail(key, "is empty");
      seen_ip = true;
    } else if (key == "rest_port") {
      cfg.rest_port = static_cast<uint16_t>(r.integer(key, v, 0, 65535));
      seen_rest = true;
    } else if (key == "grpc_port") {
      cfg.grpc_port = static_cast<uint16_t>(r.integer(key, v, 0, 65535));
      seen_grpc = true;
    } else if (key == "directory") {
      directory = r.string(key, v);
      if (directory.empty()) r.fail(key, "is empty");
      seen_dir = true;
    } else if (key == "peer_titular") {
      cfg.peer_titular = r.peer_url(key, v);
    } else if (key == "peer_suplente") {
      cfg.peer_suplente = r.peer_url(key, v);
    } else if (key == "name") {
      cfg.name = r.string(key, v);
      if (cfg.name.empty()) r.fail(key, "is empty");
    } else if (key == "advertise_host") {
      cfg.advertise_host = r.string(key, v);
    } else if (key == "timeout_ms") {
      cfg.timeout_ms = static_cast<uint32_t>(r.integer(key, v, 1, 600000));
    } else if (key == "ttl") {
      cfg.ttl = static_cast<uint32_t>(r.integer(key, v, 0, 64));
    } else if (key == "chunk_size") {
      cfg.chunk_size = static_cast<uint32_t>(r.integer(key, v, 1024, 2 * 1024 * 1024));
    } else if (key == "max_upload_bytes") {
      cfg.max_upload_bytes = r.integer(key, v, 0, INT64_MAX);
    } else if (key == "uri_style") {
      const std::string style = r.string(key, v);
      if (style != "file" && style != "grpc")
        r.fail(key, "must be \"file\" or \"grpc\", got '" + style + "'");
      cfg.uri_style_grpc = style == "grpc";
    } else if (key == "upload_token") {
      cfg.upload_token = r.string(key, v);
    } else if (key == "tls_cert" || key == "tls_key" || key == "tls_ca") {
      std::string file = r.string(key, v);
      if (file.empty()) r.fail(key, "is empty");
      std::error_code ec;
      if (!std::filesystem::is_regular_file(file, ec))
        r.fail(key, "'" + file + "' is not a readable file");
      (key == "tls_cert"  ? cfg.tls_cert
       : key == "tls_key" ? cfg.tls_key
                          : cfg.tls_ca) = std::move(file);
    } else if (key == "allow_overwrite") {
      cfg.allow_overwrite = r.boolean(key, v);
    } else if (key == "threads") {
      cfg.threads = static_cast<uint32_t>(r.integer(key, v, 1, 64));
    } else if (key == "http_idle_timeout_ms") {
      cfg.http_idle_timeout_ms = static_cast<uint32_t>(r.integer(key, v, 10, 3600000));
    } else if (key == "max_http_connections") {
      cfg.max_http_connections = static_cast<uint32_t>(r.integer(key, v, 1, 1000000));
    } else if (key == "max_transfers") {
      cfg.max_transfers = static_cast<uint32_t>(r.integer(key, v, 1, 100000));
    } else if (key == "grpc_max_connection_idle_ms") {
      cfg.grpc_max_connection_idle_ms = static_cast<uint32_t>(r.integer(key, v, 1000, 86400000));
    } else if (key == "shutdown_grace_ms") {
      cfg.shutdown_grace_ms = static_cast<uint32_t>(r.integer(key, v, 0, 3600000));
    } else if (key == "piece_size") {
      cfg.piece_size = r.integer(key, v, 16 * 1024, 64 * 1024 * 1024);
    } else if (key == "max_upload_rate") {
      cfg.max_upload_rate = r.integer(key, v, 0, INT64_MAX);
      // Below 1 KiB/s one 64 KiB chunk would take over a minute: surely a unit mistake.
      if (cfg.max_upload_rate != 0 && cfg.max_upload_rate < 1024)
        r.fail(key, "must be 0 (unlimited) or at least 1024 bytes/s, got " +
                        std::to_string(cfg.max_upload_rate));
    } else if (key == "dht") {
      cfg.dht = r.boolean(key, v);
    } else if (key == "dht_port") {
      cfg.dht_port = static_cast<uint16_t>(r.integer(key, v, 0, 65535));
    } else if (key == "dht_network") {
      cfg.dht_network = static_cast<uint32_t>(r.integer(key, v, 1, UINT32_MAX));
    } else if (key == "dht_bootstrap") {
      cfg.dht_bootstrap = r.host_ports(key, v);
    } else if (key == "dht_value_ttl_s") {
      cfg.dht_value_ttl_s = static_cast<uint32_t>(r.integer(key, v, 2, 86400));
    } else if (key == "state_dir") {
      state_dir = r.string(key, v);
      if (state_dir.empty()) r.fail(key, "is empty");
    } else {
      cfg.unknown_fields.push_back(key);
    }
  }
  if (!doc.current_location().error()) r.fail("", "has text after the JSON object");

  if (!seen_ip) r.fail("ip", "is required (the address to listen on, e.g. \"0.0.0.0\")");
  if (!seen_rest) r.fail("rest_port", "is required (the REST port, e.g. 8001)");
  if (!seen_grpc) r.fail("grpc_port", "is required (the gRPC port, e.g. 50051)");
  if (!seen_dir) r.fail("directory", "is required (the folder to share)");
  if (cfg.tls_cert.empty() != cfg.tls_key.empty())
    r.fail(cfg.tls_cert.empty() ? "tls_cert" : "tls_key",
           "is required with " + std::string(cfg.tls_cert.empty() ? "tls_key" : "tls_cert") +
               " (TLS needs the certificate and its private key)");
  if (cfg.rest_port != 0 && cfg.rest_port == cfg.grpc_port)
    r.fail("grpc_port", "must differ from rest_port");

  std::error_code ec;
  const std::filesystem::path dir = std::filesystem::absolute(directory, ec);
  if (ec) r.fail("directory", "'" + directory + "': " + ec.message());
  const auto status = std::filesystem::status(dir, ec);
  if (ec || !std::filesystem::exists(status))
    r.fail("directory", "'" + directory + "' does not exist");
  if (!std::filesystem::is_directory(status))
    r.fail("directory", "'" + directory + "' is not a directory");
  cfg.directory = std::filesystem::canonical(dir, ec);
  if (ec) r.fail("directory", "'" + directory + "': " + ec.message());

  if (cfg.piece_size % cfg.chunk_size != 0)
    r.fail("piece_size", "must be a multiple of chunk_size (" + std::to_string(cfg.chunk_size) +
                             "), got " + std::to_string(cfg.piece_size));
  cfg.state_dir = state_dir.empty() ? default_state_dir() : std::filesystem::path(state_dir);
  cfg.state_dir = std::filesystem::weakly_canonical(std::filesystem::absolute(cfg.state_dir), ec);
  const auto rel = cfg.state_dir.lexically_relative(cfg.directory);
  if (!rel.empty() && *rel.begin() != "..")
    r.fail("state_dir", "'" + cfg.state_dir.string() +
                            "' is inside the shared folder; the hash cache must live outside it");
  return cfg;
}

std::filesystem::path hash_cache_file(const Config& cfg) {
  // FNV-1a of the folder's path: stable across builds and runs.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : cfg.directory.string()) h = (h ^ c) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return cfg.state_dir / ("hashes-" + cfg.directory.filename().string() + "-" + hex);
}

Config load_config(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::error_code ec(errno, std::generic_category());
    throw ConfigError(file.string() + ": cannot read the config file: " + ec.message());
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), file.string());
}

}  // namespace p2p
