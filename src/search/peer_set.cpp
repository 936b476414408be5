#include "search/peer_set.hpp"

#include <algorithm>
#include <tuple>

namespace p2p {

const char* role_name(PeerSet::Role r) {
  switch (r) {
    case PeerSet::Role::titular:
      return "titular";
    case PeerSet::Role::suplente:
      return "suplente";
    case PeerSet::Role::learned:
      return "learned";
  }
  return "?";
}

PeerSet::PeerSet(std::optional<HttpUrl> titular, std::optional<HttpUrl> suplente,
                 size_t max_learned)
    : max_learned_(max_learned) {
  if (titular) entries_.push_back({*titular, Role::titular, {}, {}, {}, {}});
  if (suplente && (!titular || suplente->str() != titular->str()))
    entries_.push_back({*suplente, Role::suplente, {}, {}, {}, {}});
}

PeerSet::Entry* PeerSet::find(const HttpUrl& url) {
  const std::string key = url.str();
  for (auto& e : entries_)
    if (e.url.str() == key) return &e;
  return nullptr;
}

std::vector<HttpUrl> PeerSet::in_order() const {
  std::lock_guard lock(mu_);
  std::vector<HttpUrl> out;
  out.reserve(entries_.size());
  for (const auto& e : entries_) out.push_back(e.url);
  return out;
}

bool PeerSet::allow(const HttpUrl& url, Clock::time_point now) {
  std::lock_guard lock(mu_);
  Entry* e = find(url);
  return e && e->breaker.allow(now);
}

bool PeerSet::known_down(const HttpUrl& url, Clock::time_point now) const {
  std::lock_guard lock(mu_);
  const Entry* e = find(url);
  return e && e->breaker.state(now) == CircuitBreaker::State::open;
}

void PeerSet::report(const HttpUrl& url, bool ok, bool timeout, Clock::time_point now) {
  std::lock_guard lock(mu_);
  Entry* e = find(url);
  if (!e) return;
  if (ok) {
    e->breaker.success();
    return;
  }
  e->breaker.failure(now, timeout);
  if (e->role == Role::learned && now - e->breaker.failing_since() > kForgetAfter) {
    const std::string key = url.str();
    std::erase_if(entries_, [&](const Entry& x) { return x.url.str() == key; });
  }
}

bool PeerSet::learn(const HttpUrl& url, const std::string& grpc_address, const std::string& name,
                    Clock::time_point now) {
  std::lock_guard lock(mu_);
  if (Entry* e = find(url)) {
    e->grpc_address = grpc_address;
    e->name = name;
    e->breaker.success();  // it just spoke to us
    return false;
  }
  const auto learned = std::count_if(entries_.begin(), entries_.end(),
                                     [](const Entry& e) { return e.role == Role::learned; });
  if (static_cast<size_t>(learned) >= max_learned_) {
    // Make room: the learned peer failing longest, else the one learned first.
    const auto rank = [](const Entry& e) {
      const bool failing = e.breaker.consecutive_failures() > 0;
      return std::tuple(!failing, failing ? e.breaker.failing_since() : e.learned_at);
    };
    auto victim = entries_.end();
    for (auto it = entries_.begin(); it != entries_.end(); ++it)
      if (it->role == Role::learned && (victim == entries_.end() || rank(*it) < rank(*victim)))
        victim = it;
    if (victim != entries_.end()) entries_.erase(victim);
  }
  entries_.push_back({url, Role::learned, grpc_address, name, {}, now});
  return true;
}

size_t PeerSet::learned_count() const {
  std::lock_guard lock(mu_);
  return static_cast<size_t>(std::count_if(entries_.begin(), entries_.end(),
                                           [](const Entry& e) { return e.role == Role::learned; }));
}

boost::json::array PeerSet::to_json(Clock::time_point now) const {
  std::lock_guard lock(mu_);
  boost::json::array out;
  for (const auto& e : entries_) {
    boost::json::object o{{"url", e.url.str()},
                          {"role", role_name(e.role)},
                          {"state", CircuitBreaker::name(e.breaker.state(now))},
                          {"failures", e.breaker.consecutive_failures()}};
    if (!e.name.empty()) o["name"] = e.name;
    if (!e.grpc_address.empty()) o["grpc_address"] = e.grpc_address;
    out.push_back(std::move(o));
  }
  return out;
}

void PeerSet::write_metrics(metrics::Exposition& e, Clock::time_point now) const {
  struct Row {
    std::string url;
    const char* role;
    CircuitBreaker::State state;
    uint64_t failures;
  };
  std::vector<Row> rows;
  {
    std::lock_guard lock(mu_);
    for (const auto& p : entries_)
      rows.push_back({p.url.str(), role_name(p.role), p.breaker.state(now),
                      static_cast<uint64_t>(p.breaker.consecutive_failures())});
  }
  e.family("p2p_peer_up", "gauge",
           "1 while a known peer answers (its breaker closed, its last request a success), "
           "else 0.");
  for (const auto& r : rows)
    e.sample("p2p_peer_up", {{"peer", r.url}, {"role", r.role}},
             uint64_t{r.state == CircuitBreaker::State::closed && r.failures == 0});
  e.family("p2p_peer_breaker_state", "gauge",
           "A known peer's circuit breaker: 1 for its current state, 0 for the others.");
  for (const auto& r : rows)
    for (auto s : {CircuitBreaker::State::closed, CircuitBreaker::State::open,
                   CircuitBreaker::State::half_open})
      e.sample("p2p_peer_breaker_state",
               {{"peer", r.url}, {"role", r.role}, {"state", CircuitBreaker::name(s)}},
               uint64_t{r.state == s});
  e.family("p2p_peer_failures", "gauge", "A known peer's consecutive failures.");
  for (const auto& r : rows)
    e.sample("p2p_peer_failures", {{"peer", r.url}, {"role", r.role}}, r.failures);
}

}  // namespace p2p
