#include "search/search.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "content/sha256.hpp"

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
                                                         std::string local_grpc_address) {
  const auto start = now_();
  SearchOutcome r = co_await find(std::move(q), std::move(local_grpc_address));
  const Outcome o = r.reply.present ? (r.reply.via.empty() ? kLocal : kRemote)
                    : r.timed_out   ? kTimeout
                                    : kMiss;
  outcomes_[o].record(now_() - start);
  co_return r;
}

void DistributedSearch::write_metrics(metrics::Exposition& e) const {
  static constexpr std::array<const char*, kOutcomes> names{"local", "remote", "miss", "timeout"};
  e.family("p2p_searches_total", "counter",
           "Searches answered (/buscar, asked or forwarded), by outcome: local (this peer has "
           "it), remote (another peer has it), miss, timeout (deadline passed first).");
  for (size_t i = 0; i < kOutcomes; ++i)
    e.sample("p2p_searches_total", {{"outcome", names[i]}}, outcomes_[i].count());
  e.family("p2p_search_duration_seconds", "histogram", "Time to answer a search, by outcome.");
  for (size_t i = 0; i < kOutcomes; ++i)
    e.histogram("p2p_search_duration_seconds", {{"outcome", names[i]}}, outcomes_[i]);
}

asio::awaitable<SearchOutcome> DistributedSearch::find(SearchQuery q,
                                                       std::string local_grpc_address) {
  const auto start = now_();
  const auto deadline =
      start + std::min(milliseconds(cfg_.timeout_ms), q.budget.value_or(milliseconds::max()));
  if (q.qid.empty()) q.qid = new_query_id();
  const uint32_t ttl = std::min(q.ttl.value_or(cfg_.ttl), kMaxTtl);

  if (auto hit = answer_locally(q, std::move(local_grpc_address)))
    co_return SearchOutcome{std::move(*hit)};
  if (already_seen(q, start)) co_return SearchOutcome{};
  if (ttl == 0) {
    spdlog::debug("Search {} [qid {}]: not here, ttl 0", q.name, q.qid);
    co_return SearchOutcome{};
  }
  co_return co_await ask_peers(q, ttl, start, deadline);
}

std::optional<SearchReply> DistributedSearch::answer_locally(const SearchQuery& q,
                                                             std::string local_grpc_address) {
  const auto e = index_.find(q.name);
  if (!e || excluded(q.exclude, local_grpc_address)) return std::nullopt;
  // Local hits are the hot path (100k/s); they are logged only at debug level.
  spdlog::debug("Search {} [qid {}]: found locally", q.name, q.qid);
  SearchReply r;
  r.present = true;
  r.grpc_address = std::move(local_grpc_address);
  r.filename = e->name;
  r.size = e->size;
  if (e->manifest) r.sha256 = to_hex(e->manifest->sha256);
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
  spdlog::info("Search {} [qid {}] ttl {}: forwarding", q.name, q.qid, ttl);
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
    Answer a = co_await ask_one(order[i], forwarded, now + attempt);
    if (a.verdict == Verdict::hit) {
      spdlog::info("Search {} [qid {}]: found at {} via {} in {} ms", q.name, q.qid,
                   a.reply.grpc_address, a.reply.via, ms_between(start, now_()).count());
      co_return SearchOutcome{std::move(a.reply)};
    }
    if (a.verdict == Verdict::hit_without_address && !without_address)
      without_address = std::move(a.reply);
  }
  if (without_address) {
    spdlog::info("Search {} [qid {}]: only a peer without a gRPC address has it ({})", q.name,
                 q.qid, without_address->via);
    co_return SearchOutcome{std::move(*without_address)};
  }
  const bool timed_out = now_() >= deadline;
  spdlog::info("Search {} [qid {}]: not found ({} peers asked{})", q.name, q.qid, asked,
               timed_out ? ", deadline passed" : "");
  co_return SearchOutcome{{}, timed_out};
}

asio::awaitable<DistributedSearch::Answer> DistributedSearch::ask_one(const HttpUrl& peer,
                                                                      const SearchQuery& q,
                                                                      Clock::time_point deadline) {
  const auto response = co_await ask_(peer, search_target(q), deadline);
  Answer a = classify(response, peer, q);
  const auto now = now_();
  switch (a.verdict) {
    case Verdict::failed:
      peers_.report(peer, false, response.error == http::ClientResponse::Error::timeout, now);
      spdlog::warn("Search {} [qid {}]: {} failed ({}): {}", q.name, q.qid, peer.str(),
                   http::error_name(response.error), response.message);
      break;
    case Verdict::bad_reply:
      peers_.report(peer, false, false, now);
      spdlog::warn("Search {} [qid {}]: {} answered {} {}", q.name, q.qid, peer.str(),
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
  if (!response.ok()) return {Verdict::failed, {}, {}};
  if (response.status == 404) return {Verdict::not_here, {}, {}};  // the Python original's
  if (response.status != 200) return {Verdict::bad_reply, {}, {}};
  auto parsed = parse_search_reply(response.body);
  if (!parsed) return {Verdict::bad_reply, {}, parsed.error().why};
  SearchReply reply = std::move(parsed).value();
  if (!reply.present) return {Verdict::not_here, {}, {}};
  if (reply.filename.empty()) reply.filename = q.name;
  reply.via = peer.str();
  if (reply.grpc_address.empty()) return {Verdict::hit_without_address, std::move(reply), {}};
  // A holder bound to every interface (a Python peer may say "0.0.0.0:50052") is reached on
  // the host we reached it on.
  reply.grpc_address = replace_wildcard_host(reply.grpc_address, peer.host);
  if (excluded(q.exclude, reply.grpc_address)) return {Verdict::not_here, {}, {}};
  return {Verdict::hit, std::move(reply), {}};
}

}  // namespace p2p
