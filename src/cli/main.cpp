// p2p: the command-line client of p2p-share.
#include <pthread.h>
#include <signal.h>
#include <simdjson.h>

#include <CLI/CLI.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "cli/progress.hpp"
#include "core/names.hpp"
#include "core/uri.hpp"
#include "http/client.hpp"
#include "http/tls.hpp"
#include "search/query.hpp"
#include "search/reply.hpp"
#include "transfer/client.hpp"
#include "transfer/credentials.hpp"

namespace {

using p2p::TransferClient;
using p2p::TransferResult;

// One exit status per kind of failure, so scripts can tell them apart.
enum Exit : int {
  kOk = 0,
  kFailed = 1,       // anything else
  kBadName = 2,      // invalid file name or usage
  kNotFound = 3,     // no such file
  kExists = 4,       // would replace an existing file
  kRefused = 5,      // the peer refused: permission, size limit, disk full
  kUnreachable = 6,  // no answer from the peer
  kCancelled = 130,  // Ctrl-C
};

int exit_for(const grpc::Status& s) {
  switch (s.error_code()) {
    case grpc::StatusCode::OK:
      return kOk;
    case grpc::StatusCode::INVALID_ARGUMENT:
      return kBadName;
    case grpc::StatusCode::NOT_FOUND:
      return kNotFound;
    case grpc::StatusCode::ALREADY_EXISTS:
      return kExists;
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::FAILED_PRECONDITION:
      return kRefused;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return kUnreachable;
    case grpc::StatusCode::CANCELLED:
      return kCancelled;
    default:
      return kFailed;
  }
}

const char* what_failed(const grpc::Status& s) {
  switch (exit_for(s)) {
    case kBadName:
      return "bad name";
    case kNotFound:
      return "not found";
    case kExists:
      return "exists";
    case kRefused:
      return "refused";
    case kUnreachable:
      return "unreachable";
    case kCancelled:
      return "cancelled";
    default:
      return "failed";
  }
}

int report_http(const p2p::http::ClientResponse& r, const std::string& what) {
  if (!r.ok()) {
    std::fprintf(stderr, "p2p: unreachable: %s: %s\n", what.c_str(), r.message.c_str());
    return kUnreachable;
  }
  std::fprintf(stderr, "p2p: failed: %s answered HTTP %d: %s\n", what.c_str(), r.status,
               r.body.c_str());
  return r.status == 400 ? kBadName : kFailed;
}

int report(const grpc::Status& s) {
  std::fprintf(stderr, "p2p: %s: %s\n", what_failed(s), s.error_message().c_str());
  return exit_for(s);
}

// Ctrl-C or SIGTERM cancels the transfer in progress, so its temporary file is removed
// before the process exits. The signals are blocked before any thread exists (gRPC starts
// its own), and one thread takes them with sigwait.
class CancelOnSignal {
 public:
  CancelOnSignal() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::thread([set, this] {
      int sig = 0;
      sigwait(&set, &sig);
      std::lock_guard lock(mu_);
      signalled_ = true;
      if (client_) client_->cancel();
    }).detach();
  }
  // The client to cancel on a signal (nullptr: none).
  void watch(TransferClient* client) {
    std::lock_guard lock(mu_);
    client_ = client;
    if (signalled_ && client) client->cancel();
  }
  bool signalled() {
    std::lock_guard lock(mu_);
    return signalled_;
  }

 private:
  std::mutex mu_;
  TransferClient* client_ = nullptr;
  bool signalled_ = false;
};

CancelOnSignal* on_signal = nullptr;

// --tls / --ca: gRPC over TLS, and the CAs that https peers and TLS gRPC servers are
// verified against (empty: the system's). Set once in main.
struct TlsOptions {
  bool grpc = false;
  std::string ca;
  std::shared_ptr<grpc::ChannelCredentials> grpc_credentials;
  std::shared_ptr<asio::ssl::context> rest_context;
} tls;

constexpr auto kConnectTimeout = std::chrono::milliseconds(5000);

// Connects; a failure over TLS says what else may be wrong.
grpc::Status connect(TransferClient& client) {
  auto s = client.connect(kConnectTimeout);
  if (s.ok() || !tls.grpc) return s;
  return {s.error_code(), s.error_message() +
                              " over TLS (a plaintext server, or a certificate not signed by " +
                              (tls.ca.empty() ? std::string("the system's CAs") : tls.ca) +
                              " or not naming that host)"};
}

// Registers a client for cancellation while it lives.
class Watched {
 public:
  explicit Watched(TransferClient& c) { on_signal->watch(&c); }
  ~Watched() { on_signal->watch(nullptr); }
  Watched(const Watched&) = delete;
  Watched& operator=(const Watched&) = delete;
};

// Downloads `name` from `address` into `out_dir` with a progress bar; the status.
grpc::Status download(const std::string& address, const std::string& name,
                      const std::string& out_dir, bool force, TransferResult& r) {
  TransferClient client(address, tls.grpc_credentials);
  Watched watched(client);
  if (auto s = connect(client); !s.ok()) return s;
  p2p::cli::ProgressBar bar(name);
  r = client.download_to_folder(name, out_dir, force,
                                [&](uint64_t done, uint64_t total) { bar.update(done, total); });
  bar.finish();
  return r.status;
}

// A search may take the peer's whole timeout_ms (3 s by default) and then some.
constexpr auto kRestTimeout = std::chrono::milliseconds(10000);

// One REST request to a peer, waited for.
p2p::http::ClientResponse rest_get(const p2p::HttpUrl& peer, const std::string& target) {
  asio::io_context io;
  p2p::http::Client client(io.get_executor());
  client.set_tls(tls.rest_context);
  auto done =
      asio::co_spawn(io, client.get(peer, target, std::chrono::steady_clock::now() + kRestTimeout),
                     asio::use_future);
  io.run();
  return done.get();
}

std::optional<p2p::HttpUrl> peer_url(const std::string& text) {
  auto url = p2p::parse_http_url(text);
  if (!url) {
    std::fprintf(stderr, "p2p: bad name: --peer '%s' %s\n", text.c_str(), url.error().why.c_str());
    return std::nullopt;
  }
  return std::move(url).value();
}

int list(const std::string& peer_text, bool json) {
  const auto peer = peer_url(peer_text);
  if (!peer) return kBadName;
  const auto r = rest_get(*peer, "/listado");
  if (!r.ok() || r.status != 200) return report_http(r, peer->str());
  if (json) {
    std::printf("%s\n", r.body.c_str());
    return kOk;
  }
  simdjson::ondemand::parser parser;
  simdjson::padded_string body(r.body);
  try {
    simdjson::ondemand::document doc = parser.iterate(body);
    for (auto file : doc.get_array()) {
      const std::string_view name = file["name"].get_string();
      const uint64_t size = file["size"].get_uint64();
      std::printf("%12s  %.*s\n", p2p::cli::human_bytes(size).c_str(),
                  static_cast<int>(name.size()), name.data());
    }
  } catch (const simdjson::simdjson_error& e) {
    std::fprintf(stderr, "p2p: failed: %s sent a listing we cannot read: %s\n", peer->str().c_str(),
                 e.what());
    return kFailed;
  }
  return kOk;
}

// GET /buscar; the reply, or an exit status.
std::variant<p2p::SearchReply, int> find(const p2p::HttpUrl& peer, const std::string& name,
                                         const std::vector<std::string>& exclude) {
  if (auto admitted = p2p::admit_name(name, p2p::NameUse::ask); !admitted) {
    std::fprintf(stderr, "p2p: bad name: '%s': %s\n", name.c_str(), admitted.error().why.c_str());
    return kBadName;
  }
  p2p::SearchQuery q;
  q.name = name;
  q.exclude = exclude;
  const auto r = rest_get(peer, p2p::search_target(q));
  if (!r.ok() || r.status != 200) return report_http(r, peer.str());
  auto reply = p2p::parse_search_reply(r.body);
  if (!reply) {
    std::fprintf(stderr, "p2p: failed: %s answered something else: %s\n", peer.str().c_str(),
                 reply.error().why.c_str());
    return kFailed;
  }
  return std::move(reply).value();
}

int search(const std::string& name, const std::string& peer_text, bool json) {
  const auto peer = peer_url(peer_text);
  if (!peer) return kBadName;
  auto found = find(*peer, name, {});
  if (auto* code = std::get_if<int>(&found)) return *code;
  const auto& reply = std::get<p2p::SearchReply>(found);
  if (json) {
    std::printf("%s\n", p2p::search_reply_body(reply).c_str());
  } else if (reply.present) {
    std::printf("%s: at %s (%s)\n", reply.filename.empty() ? name.c_str() : reply.filename.c_str(),
                reply.grpc_address.empty() ? "a peer that gave no gRPC address"
                                           : reply.grpc_address.c_str(),
                reply.size ? p2p::cli::human_bytes(*reply.size).c_str() : "size unknown");
  } else {
    std::fprintf(stderr, "p2p: not found: no peer reachable from %s has '%s'\n",
                 peer->str().c_str(), name.c_str());
  }
  return reply.present ? kOk : kNotFound;
}

int get_from(const std::string& name, const std::string& address, const std::string& out_dir,
             bool force) {
  TransferResult r;
  if (auto s = download(address, name, out_dir, force, r); !s.ok()) return report(s);
  std::printf("%s (%s)\n", r.path.c_str(), p2p::cli::human_bytes(r.bytes).c_str());
  return kOk;
}

// Failures of one holder after which another holder is worth a try.
bool holder_failed(const grpc::Status& s) {
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::DATA_LOSS:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::NOT_FOUND:  // removed between the search and the download
      return true;
    default:
      return false;
  }
}

constexpr int kMaxHolders = 3;

int get_by_name(const std::string& name, const std::string& peer_text, const std::string& out_dir,
                bool force) {
  const auto peer = peer_url(peer_text);
  if (!peer) return kBadName;
  std::vector<std::string> tried;
  grpc::Status last;
  for (int attempt = 0; attempt < kMaxHolders; ++attempt) {
    auto found = find(*peer, name, tried);
    if (auto* code = std::get_if<int>(&found)) return *code;
    const auto& reply = std::get<p2p::SearchReply>(found);
    if (!reply.present) {
      if (tried.empty()) {
        std::fprintf(stderr, "p2p: not found: no peer reachable from %s has '%s'\n",
                     peer->str().c_str(), name.c_str());
        return kNotFound;
      }
      std::fprintf(stderr, "p2p: %s: %s (no other peer has '%s')\n", what_failed(last),
                   last.error_message().c_str(), name.c_str());
      return exit_for(last);
    }
    if (reply.grpc_address.empty()) {
      std::fprintf(stderr, "p2p: failed: '%s' is on a peer that gave no gRPC address (%s)\n",
                   name.c_str(), reply.peer.c_str());
      return kFailed;
    }
    const std::string file = reply.filename.empty() ? name : reply.filename;
    TransferResult r;
    last = download(reply.grpc_address, file, out_dir, force, r);
    if (last.ok()) {
      std::printf("%s (%s) from %s\n", r.path.c_str(), p2p::cli::human_bytes(r.bytes).c_str(),
                  reply.grpc_address.c_str());
      return kOk;
    }
    if (!holder_failed(last) || on_signal->signalled()) return report(last);
    std::fprintf(stderr, "p2p: %s failed (%s); looking for another holder\n",
                 reply.grpc_address.c_str(), last.error_message().c_str());
    tried.push_back(reply.grpc_address);
  }
  return report(last);
}

int put_to(const std::string& file, const std::string& address, std::string name,
           const std::string& token) {
  if (name.empty()) name = std::filesystem::path(file).filename().string();
  TransferClient client(address, tls.grpc_credentials);
  client.set_upload_token(token);
  Watched watched(client);
  if (auto s = connect(client); !s.ok()) return report(s);
  p2p::cli::ProgressBar bar(name);
  const TransferResult r = client.upload(
      file, name, 65536, false, [&](uint64_t done, uint64_t total) { bar.update(done, total); });
  bar.finish();
  if (!r.status.ok()) return report(r.status);
  std::printf("uploaded %s to %s as %s (%s)\n", file.c_str(), address.c_str(), name.c_str(),
              p2p::cli::human_bytes(r.bytes).c_str());
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  CancelOnSignal cancel_on_signal;
  on_signal = &cancel_on_signal;
  CLI::App app{"p2p: list, search, download and upload files on a p2p-share network"};
  app.require_subcommand(1);
  app.fallthrough();  // --tls and --ca may also follow the command
  app.add_flag("--tls", tls.grpc, "gRPC over TLS (implied by --ca and by an https:// --peer URL)");
  app.add_option("--ca", tls.ca, "PEM file of the CAs to trust for TLS (default: the system's)")
      ->envname("P2P_CA");

  auto* list_cmd = app.add_subcommand("list", "list the files a peer shares");
  std::string list_peer;
  bool list_json = false;
  list_cmd->add_option("--peer", list_peer, "the peer's REST URL, http://HOST:PORT")->required();
  list_cmd->add_flag("--json", list_json, "print the peer's JSON as it is");

  auto* search_cmd = app.add_subcommand("search", "find which peer has a file");
  std::string search_name, search_peer;
  bool search_json = false;
  search_cmd->add_option("NAME", search_name, "file name (case-insensitive, exact)")->required();
  search_cmd->add_option("--peer", search_peer, "REST URL of the peer to ask, http://HOST:PORT")
      ->required();
  search_cmd->add_flag("--json", search_json, "print the answer as JSON");

  auto* get =
      app.add_subcommand("get", "download a file, found through a peer or from a given one");
  std::string get_name, get_from_addr, get_peer, get_out = ".";
  bool get_force = false;
  get->add_option("NAME", get_name, "file name")->required();
  auto* from_opt =
      get->add_option("--from", get_from_addr, "HOST:PORT of the holder's gRPC server");
  auto* peer_opt =
      get->add_option("--peer", get_peer, "REST URL of a peer to search through, http://HOST:PORT");
  from_opt->excludes(peer_opt);
  get->add_option("-o,--output", get_out, "output folder (default: current folder)");
  get->add_flag("-f,--force", get_force, "replace an existing file in the output folder");

  auto* put = app.add_subcommand("put", "upload a file to a peer");
  std::string put_file, put_to_addr, put_as;
  put->add_option("FILE", put_file, "file to upload")->required();
  put->add_option("--to", put_to_addr, "HOST:PORT of the peer's gRPC server")->required();
  put->add_option("--as", put_as, "name on the peer (default: the file's own name)");
  std::string put_token;
  put->add_option("--token", put_token, "the peer's upload token, if it asks for one")
      ->envname("P2P_UPLOAD_TOKEN");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kOk : kBadName;
  }
  tls.grpc = tls.grpc || !tls.ca.empty() || get_peer.rfind("https://", 0) == 0;
  try {
    tls.grpc_credentials = p2p::channel_credentials(tls.grpc, tls.ca);
    if (!tls.ca.empty()) tls.rest_context = p2p::http::client_tls_context(tls.ca);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "p2p: bad usage: --ca: %s\n", e.what());
    return kBadName;
  }
  if (*list_cmd) return list(list_peer, list_json);
  if (*search_cmd) return search(search_name, search_peer, search_json);
  if (*get) {
    if (get_peer.empty() == get_from_addr.empty()) {
      std::fprintf(stderr, "p2p: bad usage: give either --peer URL (search) or --from HOST:PORT\n");
      return kBadName;
    }
    if (!get_peer.empty()) return get_by_name(get_name, get_peer, get_out, get_force);
    return get_from(get_name, get_from_addr, get_out, get_force);
  }
  if (*put) return put_to(put_file, put_to_addr, put_as, put_token);
  return kFailed;
}
