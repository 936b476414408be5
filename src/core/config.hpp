// A peer's configuration file (docs/operate.md, Configuration reference): the seed's format plus
// our defaults.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/uri.hpp"

namespace p2p {

// The io_context's threads when the config names none: half the cores (the other half is
// for gRPC's threads, which send what ours read), at least 1 and at most 8.
uint32_t default_threads();

struct Config {
  std::string source;  // the file it was read from
  std::string ip;
  uint16_t rest_port = 0;
  uint16_t grpc_port = 0;
  std::filesystem::path directory;  // absolute, canonical
  std::optional<HttpUrl> peer_titular;
  std::optional<HttpUrl> peer_suplente;
  std::string name;            // log tag, default from the file name: peer1.json -> Peer1
  std::string advertise_host;  // empty: derive (docs/design.md, section 4)
  uint32_t timeout_ms = 3000;
  uint32_t ttl = 3;
  uint32_t chunk_size = 65536;
  uint64_t max_upload_bytes = 0;  // 0: no limit but the disk
  bool allow_overwrite = false;
  bool uri_style_grpc = false;  // "uri_style": "file" (default, the seed's) or "grpc"
  std::string upload_token;     // non-empty: Upload needs "authorization: Bearer <token>"
  // TLS: with a certificate and its key, REST is HTTPS and gRPC is TLS. tls_ca: the CAs
  // trusted when calling https peers (empty: the system's).
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;
  uint32_t threads = default_threads();
  uint32_t http_idle_timeout_ms = 30000;  // a request must arrive within it, else 408/close
  uint32_t max_http_connections = 10000;  // beyond it: 503 and close
  uint32_t max_transfers = 64;            // concurrent Download+Upload; beyond: RESOURCE_EXHAUSTED
  uint32_t grpc_max_connection_idle_ms = 600000;  // an idle gRPC connection is closed after it
  uint32_t shutdown_grace_ms = 10000;             // transfers in flight may finish within it
  uint64_t piece_size = 1024 * 1024;  // bytes per hashed piece; a multiple of chunk_size
  uint64_t max_upload_rate = 0;       // bytes/s all downloads from this peer send; 0: unlimited
  // Where the hash cache lives (absolute; never inside `directory`). Default: systemd's
  // $STATE_DIRECTORY, else $XDG_STATE_HOME/p2p-share, else ~/.local/state/p2p-share.
  std::filesystem::path state_dir;
  // The DHT (docs/operate.md, "Discovery"): UDP on ip:dht_port (0: any free port).
  bool dht = true;
  uint16_t dht_port = 4222;
  uint32_t dht_network = 0x70327032;        // private: OpenDHT's public network is 0
  std::vector<std::string> dht_bootstrap;   // "host:port" of nodes to join through
  uint32_t dht_value_ttl_s = 600;           // how long a stopped holder's values outlive it at most
  std::vector<std::string> unknown_fields;  // reported as warnings, not errors
};

// "FILE: field 'X': what is wrong" — the peer prints it and exits 2.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads and validates a config file. A relative directory is taken relative to the
// working directory. Throws ConfigError.
Config load_config(const std::filesystem::path& file);

// The same from text already in memory (`source` names it in errors).
Config parse_config(std::string_view json, const std::string& source);

// The hash cache's file for this config: state_dir/hashes-NAME-HASH, named after the shared
// folder (several peers of one user share a state_dir).
std::filesystem::path hash_cache_file(const Config& cfg);

// "peer1.json" -> "Peer1"
std::string default_peer_name(const std::filesystem::path& file);

}  // namespace p2p
