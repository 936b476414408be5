#include "search/search.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <exception>
#include <memory>

#include "content/sha256.hpp"
#include "discovery/holder_record.hpp"

namespace p2p {
namespace {

using std::chrono::milliseconds;

// Left for the way back: a downstream peer answers within its budget minus this.
constexpr milliseconds kReplyMargin{50};

bool excluded(const std::vector<std::string>& exclude, const std::string& addr) {
  return std::find(exclude.begin(), exclude.end(), addr) != exclude.end();
}

milliseconds ms_between(DistributedSearch::Clock::time_point from,
                        DistributedSearch::Clock::time_point to) {
  return std::chrono::duration_cast<milliseconds>(to - from);
}

// What a query asks for, for the log: its name, else the start of its digest.
std::string asked_for(const SearchQuery& q) {
  return q.name.empty() ? "sha256 " + q.sha256.substr(0, 16) : q.name;
}

// The entry `q` names: by name (and then its content must be q.sha256, when given), else by
// content alone.
const FileEntry* local_match(const IndexSnapshot& snap, const SearchQuery& q) {
  const auto digest = sha256_from_hex(q.sha256);
  if (q.name.empty()) return digest ? snap.find_sha256(*digest) : nullptr;
  const FileEntry* e = snap.find(q.name);
  if (e && digest && !(e->manifest && e->manifest->sha256 == *digest)) return nullptr;
  return e;
}

// The answer when only a holder without a gRPC address (a Python original) has the file.
SearchOutcome last_resort(const SearchQuery& q, SearchReply without_address) {
  spdlog::info("Search {} [qid {}]: only a peer without a gRPC address has it ({})", asked_for(q),
               q.qid, without_address.via);
  return SearchOutcome{std::move(without_address), false, SearchOutcome::Source::neighbour};
}

// Adds `reply`'s holders that `found` lacks (by gRPC address), up to `want`; the first one
// ever found gives the reply its first-holder fields.
void add_holders(SearchReply& found, SearchReply reply, size_t want) {
  std::vector<SearchHolder> holders = std::move(reply.holders);
  if (!found.present) {
    found = std::move(reply);
    found.holders.clear();
  }
  for (auto& h : holders) {
    if (found.holders.size() >= want) break;
    const bool known =
        std::any_of(found.holders.begin(), found.holders.end(),
                    [&](const SearchHolder& f) { return f.grpc_address == h.grpc_address; });
    if (!known) found.holders.push_back(std::move(h));
  }
}

}  // namespace

DistributedSearch::DistributedSearch(const Config& cfg, FileIndex& index, PeerSet& peers,
                                     AskPeer ask, Now now)
    : cfg_(cfg),
      index_(index),
      peers_(peers),
      ask_(std::move(ask)),
      now_(std::move(now)),
      seen_(std::max(milliseconds(2 * cfg.timeout_ms), milliseconds(5000))) {}

DistributedSearch::DistributedSearch(const Config& cfg, FileIndex& index, PeerSet& peers,
                                     http::Client& client)
    : DistributedSearch(cfg, index, peers,
                        [&client](HttpUrl peer, std::string target, Clock::time_point deadline) {
                          return client.get(std::move(peer), std::move(target), deadline);
                        }) {}

asio::awaitable<SearchOutcome> DistributedSearch::search(SearchQuery q,
                                                         std::string local_grpc_address,
                                                         std::string local_url) {
  const auto start = now_();
  SearchOutcome r =
      co_await find(std::move(q), std::move(local_grpc_address), std::move(local_url));
  using Source = SearchOutcome::Source;
  const Outcome o = r.reply.present ? (r.source == Source::dht     ? kDht
                                       : r.source == Source::local ? kLocal
                                                                   : kRemote)
                    : r.timed_out   ? kTimeout
                                    : kMiss;
  outcomes_[o].record(now_() - start);
  co_return r;
}

void DistributedSearch::write_metrics(metrics::Exposition& e) const {
  static constexpr std::array<const char*, kOutcomes> names{"local", "dht", "remote", "miss",
                                                            "timeout"};
  e.family("p2p_searches_total", "counter",
           "Searches answered (/buscar, asked or forwarded), by where the first holder came from: "
           "local (this peer has it), dht (the DHT named it), remote (a neighbour found it); or "
           "miss, timeout (deadline passed first).");
  for (size_t i = 0; i < kOutcomes; ++i)
    e.sample("p2p_searches_total", {{"outcome", names[i]}}, outcomes_[i].count());
  e.family("p2p_search_duration_seconds", "histogram", "Time to answer a search, by outcome.");
  for (size_t i = 0; i < kOutcomes; ++i)
    e.histogram("p2p_search_duration_seconds", {{"outcome", names[i]}}, outcomes_[i]);
}

asio::awaitable<SearchOutcome> DistributedSearch::find(SearchQuery q,
                                                       std::string local_grpc_address,
                                                       std::string local_url) {
  const auto start = now_();
  const auto deadline =
      start + std::min(milliseconds(cfg_.timeout_ms), q.budget.value_or(milliseconds::max()));
  // A query with a qid was forwarded by a peer that asks the DHT itself, if it has one.
  const bool asked_first = q.qid.empty();
  const uint32_t ttl = std::min(q.ttl.value_or(cfg_.ttl), kMaxTtl);
  const size_t want = q.holders.value_or(1);
  using Source = SearchOutcome::Source;

  auto hit = answer_locally(q, local_grpc_address, std::move(local_url));
  const bool enough = hit && (!q.holders || hit->holders.size() >= want);
  if (enough) co_return SearchOutcome{std::move(*hit), false, Source::local};
  // Only a query that goes on needs an id (a local hit is the hot path).
  if (q.qid.empty()) q.qid = new_query_id();
  SearchOutcome here{hit ? std::move(*hit) : SearchReply{}, false,
                     hit ? Source::local : Source::none};
  const auto enough_found = [&](const SearchReply& r) {
    return r.present && (!q.holders || r.holders.size() >= want);
  };
  const bool directory = discovery_ && asked_first;
  if (directory) {
    co_await ask_directory(q, deadline, local_grpc_address, here.reply, want, false);
    if (here.source == Source::none && here.reply.present) here.source = Source::dht;
    if (enough_found(here.reply)) co_return here;
  }
  if (already_seen(q, start)) co_return here;
  if (ttl == 0) {
    spdlog::debug("Search {} [qid {}]: not here, ttl 0", asked_for(q), q.qid);
    co_return here;
  }
  SearchOutcome out;
  if (q.holders) {
    const Source first = here.source;
    out = co_await gather(q, ttl, start, deadline, std::move(here.reply));
    if (first != Source::none) out.source = first;
  } else {
    out = co_await ask_peers(q, ttl, start, deadline);
  }
  // The walk fell short with time left: the DHT gets the rest. After a churn the nodes
  // nearest a key may be dead and take a while to time out; OpenDHT's lookup has gone on
  // meanwhile, and asking again joins it.
  if (directory && !enough_found(out.reply) && now_() < deadline) {
    co_await ask_directory(q, deadline, local_grpc_address, out.reply, want, true);
    if (out.source == Source::none && out.reply.present) out.source = Source::dht;
    if (out.reply.present) out.timed_out = false;
  }
  co_return out;
}

asio::awaitable<void> DistributedSearch::ask_directory(const SearchQuery& q,
                                                       Clock::time_point deadline,
                                                       const std::string& local_grpc_address,
                                                       SearchReply& found, size_t want, bool last) {
  const auto start = now_();
  if (start >= deadline) co_return;
  // First, half of what is left at most, so that the neighbours still get their turn.
  const auto left = ms_between(start, deadline);
  const auto timeout = std::max(last ? left : left / 2, milliseconds(1));
  const std::string key = q.name.empty() ? sha256_key_string(q.sha256) : name_key_string(q.name);
  // A holder is a claim: well-formed, not this peer, not excluded, of q's content, and not
  // known down. Checked as the values arrive, so that the lookup ends at the first it needs.
  auto usable = [&peers = peers_, local_grpc_address, exclude = q.exclude, sha256 = q.sha256,
                 start](const HolderRecord& r) {
    const auto url = parse_http_url(r.url);
    return url && r.grpc_address != local_grpc_address && !excluded(exclude, r.grpc_address) &&
           (sha256.empty() || r.sha256 == sha256) && !peers.known_down(*url, start);
  };
  const size_t needed = want > found.holders.size() ? want - found.holders.size() : 1;
  const auto records = co_await discovery_->find(key, needed, timeout, std::move(usable));
  SearchReply from_dht;
  for (const HolderRecord& r : records.holders) {
    if (!from_dht.present) {
      from_dht.present = true;
      from_dht.grpc_address = r.grpc_address;
      from_dht.filename = r.name;
      from_dht.size = r.size;
      from_dht.sha256 = r.sha256;
      from_dht.via = r.url;
    }
    if (q.holders) from_dht.holders.push_back({r.grpc_address, r.url, r.size, r.sha256});
  }
  const size_t before = found.holders.size();
  if (from_dht.present && (q.holders || !found.present))
    add_holders(found, std::move(from_dht), want);
  spdlog::info("Search {} [qid {}]: the DHT named {} holders ({} usable, {} skipped) in {} ms",
               asked_for(q), q.qid, records.holders.size() + records.refused,
               q.holders ? found.holders.size() - before : (found.present ? 1 : 0), records.refused,
               ms_between(start, now_()).count());
}

std::optional<SearchReply> DistributedSearch::answer_locally(const SearchQuery& q,
                                                             std::string local_grpc_address,
                                                             std::string local_url) {
  if (excluded(q.exclude, local_grpc_address)) return std::nullopt;
  const auto snap = index_.snapshot();
  const FileEntry* e = local_match(*snap, q);
  if (!e) return std::nullopt;
  // Local hits are the hot path (100k/s); they are logged only at debug level, and what the
  // line says is not even built otherwise.
  if (spdlog::should_log(spdlog::level::debug))
    spdlog::debug("Search {} [qid {}]: found locally", asked_for(q),
                  q.qid.empty() ? std::string_view("new") : std::string_view(q.qid));
  SearchReply r;
  r.present = true;
  r.grpc_address = std::move(local_grpc_address);
  r.filename = e->name;
  r.size = e->size;
  if (e->manifest) r.sha256 = to_hex(e->manifest->sha256);
  if (q.holders) r.holders.push_back({r.grpc_address, std::move(local_url), r.size, r.sha256});
  return r;
}

bool DistributedSearch::already_seen(const SearchQuery& q, Clock::time_point now) {
  if (seen_.first_time(q.qid, now)) return false;
  spdlog::info("Search {} [qid {}]: seen before, answering from the local index", q.name, q.qid);
  return true;
}

milliseconds DistributedSearch::attempt_budget(milliseconds left, bool last) {
  return last ? left : std::max(left / 2, std::min(left, milliseconds(100)));
}

asio::awaitable<SearchOutcome> DistributedSearch::ask_peers(const SearchQuery& q, uint32_t ttl,
                                                            Clock::time_point start,
                                                            Clock::time_point deadline) {
  spdlog::info("Search {} [qid {}] ttl {}: forwarding", asked_for(q), q.qid, ttl);
  std::optional<SearchReply> without_address;  // a Python-original holder: last resort
  const auto order = peers_.in_order();
  int asked = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    const auto now = now_();
    if (now >= deadline) break;
    if (!peers_.allow(order[i], now)) continue;
    const auto attempt = attempt_budget(ms_between(now, deadline), i + 1 == order.size());
    SearchQuery forwarded = q;
    forwarded.ttl = ttl - 1;
    forwarded.budget = std::max(attempt - kReplyMargin, milliseconds(1));
    ++asked;
    Answer a = co_await ask_one(order[i], std::move(forwarded), now + attempt);
    if (a.verdict == Verdict::hit) {
      spdlog::info("Search {} [qid {}]: found at {} via {} in {} ms", asked_for(q), q.qid,
                   a.reply.grpc_address, a.reply.via, ms_between(start, now_()).count());
      co_return SearchOutcome{std::move(a.reply), false, SearchOutcome::Source::neighbour};
    }
    if (a.verdict == Verdict::hit_without_address && !without_address)
      without_address = std::move(a.reply);
  }
  if (without_address) co_return last_resort(q, std::move(*without_address));
  const bool timed_out = now_() >= deadline;
  spdlog::info("Search {} [qid {}]: not found ({} peers asked{})", asked_for(q), q.qid, asked,
               timed_out ? ", deadline passed" : "");
  co_return SearchOutcome{{}, timed_out};
}

asio::awaitable<SearchOutcome> DistributedSearch::gather(const SearchQuery& q, uint32_t ttl,
                                                         Clock::time_point start,
                                                         Clock::time_point deadline,
                                                         SearchReply found) {
  const size_t want = *q.holders;
  spdlog::info("Search {} [qid {}] ttl {}: gathering {} holders", asked_for(q), q.qid, ttl, want);
  const auto order = peers_.in_order();
  const auto ex = co_await asio::this_coro::executor;
  // Shared with the asks: one still running when this coroutine is cancelled (by its
  // connection's watchdog) finishes into it, by its deadline, without anyone reading.
  struct Asks {
    Asks(asio::any_io_executor ex, size_t n) : done(std::move(ex), n), cancel(n), running(n) {}
    asio::experimental::concurrent_channel<void(std::error_code, size_t, Answer)> done;
    std::vector<asio::cancellation_signal> cancel;
    std::vector<bool> running;
  };
  const auto asks = std::make_shared<Asks>(ex, order.size());
  size_t next = 0, running = 0;
  int asked = 0;
  std::optional<SearchReply> without_address;  // a Python-original holder: last resort

  // Each new ask wants the holders still missing and skips those already found.
  auto launch = [&] {
    const auto now = now_();
    while (running < kMaxParallelAsks && next < order.size() && now < deadline) {
      const size_t i = next++;
      if (!peers_.allow(order[i], now)) continue;
      SearchQuery forwarded = q;
      forwarded.ttl = ttl - 1;
      forwarded.budget = std::max(ms_between(now, deadline) - kReplyMargin, milliseconds(1));
      forwarded.holders = static_cast<uint32_t>(want - found.holders.size());
      for (const auto& h : found.holders)
        if (!excluded(forwarded.exclude, h.grpc_address))
          forwarded.exclude.push_back(h.grpc_address);
      asio::co_spawn(ex, ask_one(order[i], std::move(forwarded), deadline),
                     asio::bind_cancellation_slot(
                         asks->cancel[i].slot(), [asks, i](std::exception_ptr e, Answer a) {
                           if (e) a = Answer{Verdict::failed, {}, {}};  // thrown once called off
                           asks->done.try_send(std::error_code{}, i, std::move(a));
                         }));
      asks->running[i] = true;
      ++running;
      ++asked;
    }
  };
  auto cancel_running = [&] {
    for (size_t i = 0; i < order.size(); ++i)
      if (asks->running[i]) asks->cancel[i].emit(asio::cancellation_type::terminal);
  };

  launch();
  bool enough = false;
  while (running > 0) {
    auto [ec, i, a] =
        co_await asks->done.async_receive(asio::experimental::as_tuple(asio::use_awaitable));
    if (ec) {  // we were cancelled: the asks are told to stop, and what we have is the answer
      cancel_running();
      break;
    }
    asks->running[i] = false;
    --running;
    if (a.verdict == Verdict::hit) add_holders(found, std::move(a.reply), want);
    if (a.verdict == Verdict::hit_without_address && !without_address)
      without_address = std::move(a.reply);
    if (enough) continue;
    enough = found.holders.size() >= want;
    if (enough) {
      cancel_running();
    } else {
      launch();
    }
  }

  const bool timed_out = now_() >= deadline;
  if (!found.present && without_address) co_return last_resort(q, std::move(*without_address));
  spdlog::info("Search {} [qid {}]: {} of {} holders found ({} peers asked{}) in {} ms",
               asked_for(q), q.qid, found.holders.size(), want, asked,
               timed_out ? ", deadline passed" : "", ms_between(start, now_()).count());
  const bool present = found.present;
  co_return SearchOutcome{std::move(found), timed_out && !present,
                          present ? SearchOutcome::Source::neighbour : SearchOutcome::Source::none};
}

asio::awaitable<DistributedSearch::Answer> DistributedSearch::ask_one(HttpUrl peer, SearchQuery q,
                                                                      Clock::time_point deadline) {
  const auto response = co_await ask_(peer, search_target(q), deadline);
  Answer a = classify(response, peer, q);
  // An ask a gather called off (it had its holders) says nothing about the peer.
  const auto cs = co_await asio::this_coro::cancellation_state;
  if (cs.cancelled() != asio::cancellation_type::none) co_return Answer{Verdict::failed, {}, {}};
  const auto now = now_();
  switch (a.verdict) {
    case Verdict::failed:
      peers_.report(peer, false, response.error == http::ClientResponse::Error::timeout, now);
      spdlog::warn("Search {} [qid {}]: {} failed ({}): {}", asked_for(q), q.qid, peer.str(),
                   http::error_name(response.error), response.message);
      break;
    case Verdict::bad_reply:
      peers_.report(peer, false, false, now);
      spdlog::warn("Search {} [qid {}]: {} answered {} {}", asked_for(q), q.qid, peer.str(),
                   response.status, a.why);
      break;
    case Verdict::not_here:
    case Verdict::hit:
    case Verdict::hit_without_address:
      peers_.report(peer, true, false, now);
      break;
  }
  co_return a;
}

DistributedSearch::Answer DistributedSearch::classify(const http::ClientResponse& response,
                                                      const HttpUrl& peer, const SearchQuery& q) {
  const Answer not_here{Verdict::not_here, {}, {}};
  if (!response.ok()) return {Verdict::failed, {}, {}};
  if (response.status == 404) return not_here;  // the Python original's
  // A peer older than content search refuses a query without archivo: it cannot have it.
  if (q.name.empty() && (response.status == 400 || response.status == 422)) return not_here;
  if (response.status != 200) return {Verdict::bad_reply, {}, {}};
  auto parsed = parse_search_reply(response.body);
  if (!parsed) return {Verdict::bad_reply, {}, parsed.error().why};
  SearchReply reply = std::move(parsed).value();
  if (!reply.present) return not_here;
  if (reply.filename.empty()) reply.filename = q.name;
  // A holder an older peer found for us: its REST URL is the via that peer names, if any.
  const std::string holder_url = reply.via.empty() ? peer.str() : reply.via;
  reply.via = peer.str();
  if (reply.grpc_address.empty()) return {Verdict::hit_without_address, std::move(reply), {}};
  // A holder bound to every interface (a Python peer may say "0.0.0.0:50052") is reached on
  // the host we reached it on.
  reply.grpc_address = replace_wildcard_host(reply.grpc_address, peer.host);
  // An older peer matches by name alone, whatever the content.
  const auto other_content = [&](const std::string& sha256) {
    return !q.sha256.empty() && sha256 != q.sha256;
  };
  if (!q.holders) {
    reply.holders.clear();
    if (excluded(q.exclude, reply.grpc_address) || other_content(reply.sha256)) return not_here;
    return {Verdict::hit, std::move(reply), {}};
  }
  if (reply.holders.empty())
    reply.holders.push_back({reply.grpc_address, holder_url, reply.size, reply.sha256});
  for (auto& h : reply.holders) h.grpc_address = replace_wildcard_host(h.grpc_address, peer.host);
  std::erase_if(reply.holders, [&](const SearchHolder& h) {
    return excluded(q.exclude, h.grpc_address) || other_content(h.sha256);
  });
  if (reply.holders.empty()) return not_here;
  const SearchHolder& first = reply.holders.front();
  reply.grpc_address = first.grpc_address;
  reply.size = first.size;
  reply.sha256 = first.sha256;
  return {Verdict::hit, std::move(reply), {}};
}

}  // namespace p2p
