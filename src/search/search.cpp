#include "search/search.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

#include "core/names.hpp"
#include "core/uri.hpp"
#include "search/reply.hpp"

namespace p2p {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Left for the way back: a downstream peer answers within its budget minus this.
constexpr milliseconds kReplyMargin{50};

bool excluded(const std::vector<std::string>& exclude, const std::string& addr) {
  return std::find(exclude.begin(), exclude.end(), addr) != exclude.end();
}

}  // namespace

std::string new_query_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

std::string DistributedSearch::forward_target(const std::string& name, uint32_t ttl,
                                              const std::string& qid, milliseconds budget,
                                              const std::vector<std::string>& exclude) {
  std::string t = "/buscar?archivo=" + percent_encode_path(name) + "&ttl=" + std::to_string(ttl) +
                  "&qid=" + percent_encode_path(qid) +
                  "&budget_ms=" + std::to_string(budget.count());
  for (const auto& e : exclude) t += "&exclude=" + percent_encode_path(e);
  return t;
}

DistributedSearch::DistributedSearch(const Config& cfg, FileIndex& index, PeerSet& peers,
                                     http::Client& client)
    : cfg_(cfg),
      index_(index),
      peers_(peers),
      client_(client),
      seen_(std::max(std::chrono::milliseconds(2 * cfg.timeout_ms),
                     std::chrono::milliseconds(5000))) {}

asio::awaitable<SearchResult> DistributedSearch::search(SearchQuery q,
                                                        std::string local_grpc_address) {
  const auto start = Clock::now();
  SearchResult r = co_await find(std::move(q), std::move(local_grpc_address));
  const Outcome o = r.present     ? (r.holder.empty() ? kLocal : kRemote)
                    : r.timed_out ? kTimeout
                                  : kMiss;
  outcomes_[o].record(Clock::now() - start);
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

asio::awaitable<SearchResult> DistributedSearch::find(SearchQuery q,
                                                      std::string local_grpc_address) {
  const auto start = Clock::now();
  milliseconds budget{cfg_.timeout_ms};
  if (q.budget) budget = std::min(budget, *q.budget);
  const auto deadline = start + budget;
  const bool forwarded = !q.qid.empty();
  if (!forwarded) q.qid = new_query_id();
  const uint32_t ttl = std::min<uint32_t>(q.ttl.value_or(cfg_.ttl), 64);

  SearchResult result;
  if (const auto e = index_.find(q.name); e && !excluded(q.exclude, local_grpc_address)) {
    result.present = true;
    result.grpc_address = std::move(local_grpc_address);
    result.filename = e->name;
    result.size = e->size;
    result.has_size = true;
    // Local hits are the hot path (100k/s); they are logged only at debug level.
    spdlog::debug("Search {} [qid {}]: found locally", q.name, q.qid);
    co_return result;
  }
  if (!seen_.first_time(q.qid, start)) {
    spdlog::info("Search {} [qid {}]: seen before, answering from the local index", q.name, q.qid);
    co_return result;
  }
  if (ttl == 0) {
    spdlog::debug("Search {} [qid {}]: not here, ttl 0", q.name, q.qid);
    co_return result;
  }
  spdlog::info("Search {} [qid {}] ttl {}: forwarding", q.name, q.qid, ttl);

  std::optional<SearchResult> without_address;  // a Python-original holder: last resort
  const auto order = peers_.in_order();
  int asked = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    const HttpUrl& url = order[i];
    const auto now = Clock::now();
    if (now >= deadline) {
      result.timed_out = true;
      break;
    }
    if (!peers_.allow(url, now)) continue;
    // Each peer but the last gets half of what is left, so a hung titular leaves time for
    // the suplente.
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - now);
    const auto attempt =
        i + 1 == order.size() ? left : std::max(left / 2, std::min(left, milliseconds(100)));
    const auto target = forward_target(
        q.name, ttl - 1, q.qid, std::max(attempt - kReplyMargin, milliseconds(1)), q.exclude);
    ++asked;
    const auto reply = co_await client_.get(url, target, now + attempt);
    const auto after = Clock::now();
    if (!reply.ok()) {
      peers_.report(url, false, reply.error == http::ClientResponse::Error::timeout, after);
      spdlog::warn("Search {} [qid {}]: {} failed ({}): {}", q.name, q.qid, url.str(),
                   http::error_name(reply.error), reply.message);
      continue;
    }
    if (reply.status == 404) {  // the Python original's "not here"
      peers_.report(url, true, false, after);
      continue;
    }
    std::string why;
    auto parsed = reply.status == 200 ? parse_search_reply(reply.body, &why) : std::nullopt;
    if (!parsed) {
      peers_.report(url, false, false, after);
      spdlog::warn("Search {} [qid {}]: {} answered {} {}", q.name, q.qid, url.str(), reply.status,
                   why);
      continue;
    }
    peers_.report(url, true, false, after);
    if (!parsed->present) continue;
    SearchResult found;
    found.present = true;
    found.filename = parsed->filename.empty() ? q.name : parsed->filename;
    found.size = parsed->size;
    found.has_size = parsed->has_size;
    found.holder = url.str();
    found.peer = parsed->peer;
    if (parsed->grpc_address.empty()) {
      if (!without_address) without_address = std::move(found);
      continue;
    }
    // A holder bound to every interface (a Python peer may say "0.0.0.0:50052") is reached
    // on the host we reached it on.
    found.grpc_address = replace_wildcard_host(parsed->grpc_address, url.host);
    if (excluded(q.exclude, found.grpc_address)) continue;
    spdlog::info("Search {} [qid {}]: found at {} via {} in {} ms", q.name, q.qid,
                 found.grpc_address, url.str(),
                 std::chrono::duration_cast<milliseconds>(after - start).count());
    co_return found;
  }
  if (without_address) {
    spdlog::info("Search {} [qid {}]: only a peer without a gRPC address has it ({})", q.name,
                 q.qid, without_address->holder);
    co_return *without_address;
  }
  if (Clock::now() >= deadline) result.timed_out = true;
  spdlog::info("Search {} [qid {}]: not found ({} peers asked{})", q.name, q.qid, asked,
               result.timed_out ? ", deadline passed" : "");
  co_return result;
}

}  // namespace p2p
