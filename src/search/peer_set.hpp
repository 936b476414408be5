// The peers this peer knows: its titular and suplente from the config, and the peers that
// announced themselves (POST /peers), each with its circuit breaker. Learned peers are
// bounded in number and forgotten once they have failed for a minute without a break.
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/metrics.hpp"
#include "core/uri.hpp"
#include "search/breaker.hpp"

namespace p2p {

class PeerSet {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Role { titular, suplente, learned };

  static constexpr size_t kMaxLearned = 64;
  static constexpr std::chrono::seconds kForgetAfter{60};

  PeerSet(std::optional<HttpUrl> titular, std::optional<HttpUrl> suplente,
          size_t max_learned = kMaxLearned);

  // Titular, suplente, then learned peers, oldest first.
  std::vector<HttpUrl> in_order() const;

  // Whether `url` may be asked now (its breaker); a half-open breaker lets one trial by.
  bool allow(const HttpUrl& url, Clock::time_point now);
  // Whether `url` is a peer we know whose breaker is open now (a holder the DHT names is
  // then skipped); no side effect, unlike allow().
  bool known_down(const HttpUrl& url, Clock::time_point now) const;
  // The outcome of asking `url`. A learned peer that keeps failing is forgotten here.
  void report(const HttpUrl& url, bool ok, bool timeout, Clock::time_point now);

  // An announcement. Returns true when the peer is new. Ignored for the peer's own id.
  bool learn(const HttpUrl& url, const std::string& grpc_address, const std::string& name,
             Clock::time_point now);

  // [{"url","role","name","grpc_address","state","failures"}]
  boost::json::array to_json(Clock::time_point now) const;

  size_t learned_count() const;

  // p2p_peer_up, p2p_peer_breaker_state, p2p_peer_failures for each known peer.
  void write_metrics(metrics::Exposition& e, Clock::time_point now) const;

 private:
  struct Entry {
    HttpUrl url;
    Role role;
    std::string grpc_address;
    std::string name;
    CircuitBreaker breaker;
    Clock::time_point learned_at;
  };
  Entry* find(const HttpUrl& url);
  const Entry* find(const HttpUrl& url) const { return const_cast<PeerSet*>(this)->find(url); }

  mutable std::mutex mu_;
  std::vector<Entry> entries_;
  size_t max_learned_;
};

const char* role_name(PeerSet::Role r);

}  // namespace p2p
