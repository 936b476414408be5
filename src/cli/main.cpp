// p2p: the command-line client of p2p-share.
#include <pthread.h>
#include <signal.h>
#include <simdjson.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "cli/holders.hpp"
#include "cli/progress.hpp"
#include "cli/swarm.hpp"
#include "cli/transfer_source.hpp"
#include "core/names.hpp"
#include "core/token_bucket.hpp"
#include "core/uri.hpp"
#include "http/client.hpp"
#include "http/tls.hpp"
#include "search/query.hpp"
#include "search/reply.hpp"
#include "transfer/client.hpp"
#include "transfer/credentials.hpp"

namespace {

using p2p::SwarmFailure;
using p2p::TransferClient;
using p2p::TransferResult;
using p2p::cli::Holder;

// One exit status per kind of failure, so scripts can tell them apart.
enum Exit : int {
  kOk = 0,
  kFailed = 1,        // anything else
  kBadName = 2,       // invalid file name or usage
  kNotFound = 3,      // no such file
  kExists = 4,        // would replace an existing file
  kRefused = 5,       // the peer refused: permission, size limit, disk full
  kUnreachable = 6,   // no answer from the peer
  kDidNotVerify = 7,  // no holder sent the bytes the file's SHA-256 says (the verified pieces stay)
  kCancelled = 130,   // Ctrl-C
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

int exit_for(SwarmFailure::Kind k) {
  switch (k) {
    case SwarmFailure::Kind::invalid:
      return kBadName;
    case SwarmFailure::Kind::exists:
      return kExists;
    case SwarmFailure::Kind::io:
      return kFailed;
    case SwarmFailure::Kind::unavailable:
      return kUnreachable;
    case SwarmFailure::Kind::did_not_verify:
      return kDidNotVerify;
    case SwarmFailure::Kind::cancelled:
      return kCancelled;
  }
  return kFailed;
}

const char* what_failed(int code) {
  switch (code) {
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
    case kDidNotVerify:
      return "did not verify";
    case kCancelled:
      return "cancelled";
    default:
      return "failed";
  }
}

const char* what_failed(const grpc::Status& s) { return what_failed(exit_for(s)); }

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

int report(const SwarmFailure& f) {
  const int code = exit_for(f.kind);
  // Its message starts with "data did not verify" already.
  if (code == kDidNotVerify)
    std::fprintf(stderr, "p2p: %s\n", f.why.c_str());
  else
    std::fprintf(stderr, "p2p: %s: %s\n", what_failed(code), f.why.c_str());
  return code;
}

// Ctrl-C or SIGTERM cancels the transfer in progress (an unverified one removes its
// temporary file; a verified one keeps its part file and record to resume) before the process
// exits. The signals are blocked before any thread exists (gRPC starts its own), and one
// thread takes them with sigwait.
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
      if (cancel_) cancel_();
    }).detach();
  }
  // What cancels the transfer in progress on a signal (empty: none).
  void watch(std::function<void()> cancel) {
    std::lock_guard lock(mu_);
    cancel_ = std::move(cancel);
    if (signalled_ && cancel_) cancel_();
  }
  bool signalled() {
    std::lock_guard lock(mu_);
    return signalled_;
  }

 private:
  std::mutex mu_;
  std::function<void()> cancel_;
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

// Registers a transfer for cancellation while it lives.
class Watched {
 public:
  explicit Watched(TransferClient& c) {
    on_signal->watch([&c] { c.cancel(); });
  }
  explicit Watched(p2p::Swarm& s) {
    on_signal->watch([&s] { s.cancel(); });
  }
  ~Watched() { on_signal->watch(nullptr); }
  Watched(const Watched&) = delete;
  Watched& operator=(const Watched&) = delete;
};

// What `p2p get` was asked for, besides the name and where to find it.
struct GetOptions {
  std::string out_dir = ".";
  bool force = false;
  uint32_t sources = 4;   // holders to gather (--sources)
  std::string sha256;     // the content wanted (--sha256); empty: what most holders have
  uint64_t max_rate = 0;  // bytes/s for all holders together; 0: unlimited
};

// Downloads `name` from `address` into `out_dir` with a progress bar, unverified (the holder
// has no manifest to check against); the status.
grpc::Status download(const std::string& address, const std::string& name, const GetOptions& o,
                      TransferResult& r) {
  TransferClient client(address, tls.grpc_credentials);
  Watched watched(client);
  if (auto s = connect(client); !s.ok()) return s;
  p2p::cli::ProgressBar bar(name);
  // --max-rate: a progress call that waits holds back the reads, and gRPC's flow control
  // the holder.
  std::optional<p2p::TokenBucket> rate;
  if (o.max_rate) rate.emplace(o.max_rate);
  uint64_t counted = 0;
  r = client.download_to_folder(name, o.out_dir, o.force, [&](uint64_t done, uint64_t total) {
    bar.update(done, total);
    if (!rate || done <= counted) return;
    std::this_thread::sleep_for(rate->reserve(done - counted, p2p::TokenBucket::Clock::now()));
    counted = done;
  });
  bar.finish();
  return r.status;
}

void say_not_verified(const std::string& why) {
  std::fprintf(stderr, "p2p: not verified: %s\n", why.c_str());
}

// How a verified download ended: the exit status once reported, or (`retry`) every holder
// failed, reported by nobody yet, and `gone` names them so another search can skip them.
struct SwarmEnd {
  int code = kOk;
  bool retry = false;
  std::string why;
  std::vector<std::string> gone;
};

// Downloads the content `m` describes from `holders` at once, each piece verified.
SwarmEnd swarm_get(const p2p::Manifest& m, const std::string& name,
                   const std::vector<Holder>& holders, const GetOptions& o) {
  std::vector<std::unique_ptr<p2p::PieceSource>> sources;
  for (const Holder& h : holders)
    sources.push_back(
        std::make_unique<p2p::TransferSource>(h.grpc_address, h.name, tls.grpc_credentials));
  std::optional<p2p::TokenBucket> rate;  // one bucket: --max-rate bounds all holders together
  if (o.max_rate) rate.emplace(o.max_rate);
  p2p::cli::ProgressBar bar(name);
  p2p::SwarmOptions so;
  so.force = o.force;
  so.rate = rate ? &*rate : nullptr;
  so.started = [](uint64_t verified, uint64_t pieces) {
    if (verified > 0)
      std::fprintf(stderr, "p2p: resuming: %llu of %llu pieces already verified\n",
                   static_cast<unsigned long long>(verified),
                   static_cast<unsigned long long>(pieces));
  };
  so.progress = [&bar](size_t in_use, uint64_t verified, uint64_t total) {
    bar.update(verified, total, in_use);
  };
  p2p::Swarm swarm(m, name, o.out_dir, std::move(sources), so);
  auto r = [&] {
    Watched watched(swarm);
    return swarm.run();
  }();
  bar.finish();
  const auto stats = swarm.stats();
  if (!r) {
    if (r.error().kind == SwarmFailure::Kind::unavailable && !on_signal->signalled()) {
      SwarmEnd end{kUnreachable, true, r.error().why, {}};
      for (const auto& s : stats) end.gone.push_back(s.label);
      return end;
    }
    SwarmEnd end;
    end.code = report(r.error());
    return end;
  }
  // Per holder, when there is more to say than the line on stdout: several holders shared
  // the work, or one of them misbehaved.
  const bool eventful = std::any_of(
      stats.begin(), stats.end(), [](const auto& s) { return s.dropped || s.pieces_rejected > 0; });
  if (stats.size() > 1 || eventful)
    for (const auto& s : stats)
      std::fprintf(stderr, "p2p: %s\n", p2p::cli::holder_summary(s).c_str());
  std::string from;
  for (const auto& s : stats)
    if (s.pieces_verified > 0) from += (from.empty() ? "" : ", ") + s.label;
  std::printf("%s (%s) sha256 %s%s%s\n", r->c_str(), p2p::cli::human_bytes(m.size).c_str(),
              p2p::to_hex(m.sha256).c_str(), from.empty() ? "" : " from ", from.c_str());
  return SwarmEnd{};
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
// `holders` > 1 gathers that many at once; 1 walks the neighbours one after another, as the
// search of a peer before holders=N did, and takes the first holder found.
// A `sha256` asks for that content only (a Python-original peer ignores it: callers still
// check the content of what comes back).
std::variant<p2p::SearchReply, int> find(const p2p::HttpUrl& peer, const std::string& name,
                                         const std::vector<std::string>& exclude,
                                         uint32_t holders = 1, const std::string& sha256 = {}) {
  if (auto admitted = p2p::admit_name(name, p2p::NameUse::ask); !admitted) {
    std::fprintf(stderr, "p2p: bad name: '%s': %s\n", name.c_str(), admitted.error().why.c_str());
    return kBadName;
  }
  p2p::SearchQuery q;
  q.name = name;
  q.exclude = exclude;
  if (holders > 1) q.holders = holders;
  q.sha256 = sha256;
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

// One line per holder: where, how big, which content.
void print_holder(const std::string& name, const std::string& grpc_address,
                  const std::optional<uint64_t>& size, const std::string& sha256) {
  std::printf("%s: at %s (%s%s%s)\n", name.c_str(),
              grpc_address.empty() ? "a peer that gave no gRPC address" : grpc_address.c_str(),
              size ? p2p::cli::human_bytes(*size).c_str() : "size unknown",
              sha256.empty() ? "" : ", sha256 ", sha256.c_str());
}

int search(const std::string& name, const std::string& peer_text, uint32_t holders,
           const std::string& sha256, bool json) {
  const auto peer = peer_url(peer_text);
  if (!peer) return kBadName;
  const auto digest = sha256.empty() ? std::nullopt : p2p::sha256_from_hex(sha256);
  if (!sha256.empty() && !digest) {
    std::fprintf(stderr, "p2p: bad usage: --sha256 wants 64 hex digits, not '%s'\n",
                 sha256.c_str());
    return kBadName;
  }
  const std::string wanted = digest ? p2p::to_hex(*digest) : std::string();
  auto found = find(*peer, name, {}, holders, wanted);
  if (auto* code = std::get_if<int>(&found)) return *code;
  auto& reply = std::get<p2p::SearchReply>(found);
  // Holders of other content, which a peer that ignores sha256= may still report, are left out.
  const auto other = [&](const std::string& content) {
    return !wanted.empty() && content != wanted;
  };
  std::erase_if(reply.holders, [&](const p2p::SearchHolder& h) { return other(h.sha256); });
  const bool present = reply.present && (reply.holders.empty() ? !other(reply.sha256) : true);
  const std::string shown = reply.filename.empty() ? name : reply.filename;
  if (json) {
    std::printf("%s\n", p2p::search_reply_body(reply).c_str());
  } else if (present) {
    if (reply.holders.empty()) print_holder(shown, reply.grpc_address, reply.size, reply.sha256);
    for (const auto& h : reply.holders) print_holder(shown, h.grpc_address, h.size, h.sha256);
  } else {
    std::fprintf(stderr, "p2p: not found: no peer reachable from %s has '%s'%s%s\n",
                 peer->str().c_str(), name.c_str(), wanted.empty() ? "" : " with sha256 ",
                 wanted.c_str());
  }
  return present ? kOk : kNotFound;
}

// The unverified download of the past: for holders without a manifest.
int get_unverified(const std::string& address, const std::string& name, const GetOptions& o) {
  TransferResult r;
  if (auto s = download(address, name, o, r); !s.ok()) return report(s);
  std::printf("%s (%s) from %s, not verified\n", r.path.c_str(),
              p2p::cli::human_bytes(r.bytes).c_str(), address.c_str());
  return kOk;
}

// Manifest answers after which the file may still be fetched, only unverified: the holder
// has not hashed it yet, or is an older peer without the RPC.
std::optional<std::string> no_manifest_yet(const grpc::Status& s) {
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) return "the holder has not hashed it yet";
  if (s.error_code() == grpc::StatusCode::UNIMPLEMENTED)
    return "the holder is an older peer without manifests";
  return std::nullopt;
}

// The manifest of `name` (of content `sha256`, when given) at `address`; `reached`: whether
// the holder answered at all, since UNAVAILABLE also means "not hashed yet".
p2p::Result<p2p::Manifest, grpc::Status> manifest_from(const std::string& address,
                                                       const std::string& name,
                                                       const std::string& sha256, bool& reached) {
  TransferClient client(address, tls.grpc_credentials);
  Watched watched(client);
  reached = false;
  if (auto s = connect(client); !s.ok()) return s;
  reached = true;
  return client.manifest(name, sha256);
}

// A failure's message, never empty (gRPC leaves it empty for UNIMPLEMENTED, say).
std::string message_of(const grpc::Status& s) {
  if (!s.error_message().empty()) return s.error_message();
  return "gRPC status " + std::to_string(static_cast<int>(s.error_code()));
}

int get_from(const std::string& name, const std::string& address, const GetOptions& o) {
  if (auto admitted = p2p::admit_name(name, p2p::NameUse::save); !admitted) {
    std::fprintf(stderr, "p2p: bad name: '%s': %s\n", name.c_str(), admitted.error().why.c_str());
    return kBadName;
  }
  bool reached = false;
  auto m = manifest_from(address, name, o.sha256, reached);
  if (!m) {
    const auto why = no_manifest_yet(m.error());
    if (!reached || !why || !o.sha256.empty() || on_signal->signalled()) return report(m.error());
    say_not_verified(*why);
    return get_unverified(address, name, o);
  }
  const SwarmEnd end = swarm_get(*m, name, {Holder{address, name, p2p::to_hex(m->sha256)}}, o);
  if (end.retry) std::fprintf(stderr, "p2p: unreachable: %s\n", end.why.c_str());
  return end.code;
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

// Removes DIR/.p2p-part-NAME and DIR/.p2p-state-NAME.
void remove_part(const std::filesystem::path& dir, const std::string& name) {
  std::error_code ignored;
  std::filesystem::remove(dir / (std::string(p2p::kPartPrefix) + name), ignored);
  std::filesystem::remove(dir / (std::string(p2p::kStatePrefix) + name), ignored);
}

// Searches at most this often: each later one skips the holders that failed.
constexpr int kMaxSearches = 3;

// The holders a reply names, each with its name for the file.
// Names match whatever their case, so the first holder's name does for all.
std::vector<Holder> holders_of(const p2p::SearchReply& reply, const std::string& name) {
  const std::string file = reply.filename.empty() ? name : reply.filename;
  // Without a holders list (an older peer, or one holder asked for): the first holder.
  if (reply.holders.empty()) return {Holder{reply.grpc_address, file, reply.sha256}};
  std::vector<Holder> out;
  for (const auto& h : reply.holders) out.push_back(Holder{h.grpc_address, file, h.sha256});
  return out;
}

int get_by_name(const std::string& name, const std::string& peer_text, GetOptions o) {
  const auto peer = peer_url(peer_text);
  if (!peer) return kBadName;
  const bool content_asked = !o.sha256.empty();  // by the user, not pinned by a retry
  std::vector<std::string> tried;
  int last_code = kUnreachable;
  std::string last_why;
  bool began_verified = false;  // a swarm ran, so DIR may hold its part file
  const auto give_up = [&] {
    std::fprintf(stderr, "p2p: %s: %s\n", what_failed(last_code), last_why.c_str());
    return last_code;
  };
  for (int attempt = 0; attempt < kMaxSearches; ++attempt) {
    auto found = find(*peer, name, tried, o.sources, content_asked ? o.sha256 : std::string());
    if (auto* code = std::get_if<int>(&found)) return *code;
    // Nobody has that content: asked again by name alone, so that the message below can
    // say what the holders have instead.
    if (content_asked && tried.empty() && !std::get<p2p::SearchReply>(found).present) {
      found = find(*peer, name, tried, o.sources);
      if (auto* code = std::get_if<int>(&found)) return *code;
    }
    const auto& reply = std::get<p2p::SearchReply>(found);
    if (!reply.present) {
      if (tried.empty()) {
        std::fprintf(stderr, "p2p: not found: no peer reachable from %s has '%s'\n",
                     peer->str().c_str(), name.c_str());
        return kNotFound;
      }
      last_why += " (no other peer has '" + name + "')";
      return give_up();
    }
    const auto holders = holders_of(reply, name);
    auto choice = p2p::cli::choose_content(holders, o.sha256);
    // The content an earlier attempt began is preferred, not required: the user asked for none.
    if (!choice && !content_asked) choice = p2p::cli::choose_content(holders, "");
    if (!choice) {
      std::fprintf(stderr, "p2p: not found: '%s': %s\n", name.c_str(), choice.error().why.c_str());
      return kNotFound;
    }
    if (choice->holders.empty()) {
      std::fprintf(stderr, "p2p: failed: '%s' is on a peer that gave no gRPC address (%s)\n",
                   name.c_str(), reply.peer.c_str());
      return kFailed;
    }
    // Once, and only when the user did not choose the content already.
    const auto warning = p2p::cli::disagreement(*choice);
    if (attempt == 0 && !content_asked && !warning.empty())
      std::fprintf(stderr, "p2p: warning: %s\n", warning.c_str());
    std::vector<std::string> failed;
    const auto holder_failed_with = [&](const Holder& h, const grpc::Status& s) {
      last_code = exit_for(s);
      last_why = h.grpc_address + ": " + message_of(s);
      failed.push_back(h.grpc_address);
    };
    // No manifest to be had (nobody hashed it, or older peers): one holder, unverified.
    std::optional<std::string> unverified;
    const Holder* unverified_from = &choice->holders.front();
    std::optional<p2p::Manifest> manifest;
    if (choice->sha256.empty()) {
      unverified = "the holder has not hashed it yet";
    } else {
      // Later searches keep to this content, so what verified of it in the part file counts.
      o.sha256 = choice->sha256;
      for (const Holder& h : choice->holders) {
        bool reached = false;
        auto m = manifest_from(h.grpc_address, h.name, choice->sha256, reached);
        if (m) {
          manifest = std::move(*m);
          break;
        }
        if (on_signal->signalled()) return report(m.error());
        const auto why = reached ? no_manifest_yet(m.error()) : std::nullopt;
        if (why && !content_asked && !unverified) {
          unverified = why;
          unverified_from = &h;
        } else {
          holder_failed_with(h, m.error());
        }
      }
    }
    if (manifest) {
      began_verified = true;
      const SwarmEnd end = swarm_get(*manifest, choice->holders.front().name, choice->holders, o);
      if (!end.retry) return end.code;
      last_code = end.code;
      last_why = end.why;
      failed = end.gone;
    } else if (unverified) {
      const Holder& h = *unverified_from;
      say_not_verified(*unverified);
      TransferResult r;
      const grpc::Status s = download(h.grpc_address, h.name, o, r);
      if (s.ok()) {
        // An earlier verified attempt's part file and record are of no use now NAME is here.
        if (began_verified) remove_part(o.out_dir, r.path.filename().string());
        std::printf("%s (%s) from %s, not verified\n", r.path.c_str(),
                    p2p::cli::human_bytes(r.bytes).c_str(), h.grpc_address.c_str());
        return kOk;
      }
      if (!holder_failed(s) || on_signal->signalled()) return report(s);
      holder_failed_with(h, s);
    }
    std::fprintf(stderr, "p2p: %s; looking for another holder\n", last_why.c_str());
    tried.insert(tried.end(), failed.begin(), failed.end());
  }
  return give_up();
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
  std::string search_name, search_peer, search_sha256;
  uint32_t search_holders = 1;
  bool search_json = false;
  search_cmd->add_option("NAME", search_name, "file name (case-insensitive, exact)")->required();
  search_cmd->add_option("--peer", search_peer, "REST URL of the peer to ask, http://HOST:PORT")
      ->required();
  search_cmd->add_flag("--json", search_json, "print the answer as JSON");
  search_cmd
      ->add_option("--holders", search_holders,
                   "gather up to N holders of the file (1..16), one line each")
      ->check(CLI::Range(1, 16));
  search_cmd->add_option("--sha256", search_sha256,
                         "only holders of this content (64 hex digits, as sha256sum prints)");

  auto* get =
      app.add_subcommand("get", "download a file, found through a peer or from a given one");
  std::string get_name, get_from_addr, get_peer, get_rate;
  GetOptions get_opts;
  get->add_option("NAME", get_name, "file name")->required();
  auto* from_opt =
      get->add_option("--from", get_from_addr, "HOST:PORT of the holder's gRPC server");
  auto* peer_opt =
      get->add_option("--peer", get_peer, "REST URL of a peer to search through, http://HOST:PORT");
  from_opt->excludes(peer_opt);
  get->add_option("-o,--output", get_opts.out_dir, "output folder (default: current folder)");
  get->add_flag("-f,--force", get_opts.force,
                "replace an existing file in the output folder, and start over a part file");
  get->add_option("--sources", get_opts.sources, "holders to download from at once (default 4)")
      ->check(CLI::Range(1u, p2p::kMaxHolders))
      ->excludes(from_opt);
  get->add_option("--sha256", get_opts.sha256,
                  "the content wanted, when holders have different files under NAME");
  get->add_option("--max-rate", get_rate,
                  "bytes/s for the whole download: digits with k, M or G (SI: 10M = 10^7)");

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
  if (*search_cmd)
    return search(search_name, search_peer, search_holders, search_sha256, search_json);
  if (*get) {
    if (get_peer.empty() == get_from_addr.empty()) {
      std::fprintf(stderr, "p2p: bad usage: give either --peer URL (search) or --from HOST:PORT\n");
      return kBadName;
    }
    if (!get_opts.sha256.empty()) {
      const auto digest = p2p::sha256_from_hex(get_opts.sha256);
      if (!digest) {
        std::fprintf(stderr, "p2p: bad usage: --sha256 '%s' is not 64 hex digits\n",
                     get_opts.sha256.c_str());
        return kBadName;
      }
      get_opts.sha256 = p2p::to_hex(*digest);  // as peers write it
    }
    if (!get_rate.empty()) {
      auto rate = p2p::cli::parse_rate(get_rate);
      if (!rate) {
        std::fprintf(stderr, "p2p: bad usage: --max-rate %s\n", rate.error().why.c_str());
        return kBadName;
      }
      get_opts.max_rate = *rate;
    }
    if (!get_peer.empty()) return get_by_name(get_name, get_peer, get_opts);
    return get_from(get_name, get_from_addr, get_opts);
  }
  if (*put) return put_to(put_file, put_to_addr, put_as, put_token);
  return kFailed;
}
