#include "discovery/dht_node.hpp"

#include <opendht.h>
#include <spdlog/spdlog.h>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/use_awaitable.hpp>
#include <random>
#include <set>
#include <stdexcept>

#include "core/uri.hpp"
#include "io/op_signal.hpp"

namespace p2p {
namespace {

using Clock = std::chrono::steady_clock;
using namespace asio::experimental::awaitable_operators;

// Our values' type: every node of the network registers it, so every node that stores one
// lets it expire after the peers' value_ttl instead of OpenDHT's default.
constexpr dht::ValueType::Id kHolderType = 0x7032;

uint64_t random_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  // Value ids must be unique under a key across every peer that puts there.
  return rng() | 1;
}

dht::SockAddr bind_address(const std::string& ip, uint16_t port) {
  auto found = dht::SockAddr::resolve(ip, std::to_string(port));
  if (found.empty()) throw std::runtime_error("cannot bind the DHT to '" + ip + "'");
  return found.front();
}

}  // namespace

DhtNode::DhtNode(asio::any_io_executor ex, DhtOptions options)
    : ex_(std::move(ex)),
      options_(std::move(options)),
      runner_(std::make_unique<dht::DhtRunner>()),
      timer_(ex_),
      next_id_(random_id()) {
  dht::DhtRunner::Config cfg;
  cfg.dht_config.node_config.network = options_.network;
  // Peers of one host share one IP: OpenDHT's per-IP rate limits would refuse them.
  cfg.dht_config.node_config.max_req_per_sec = -1;
  cfg.dht_config.node_config.max_peer_req_per_sec = -1;
  cfg.threaded = true;
  const auto bound = bind_address(options_.ip, options_.port);
  (bound.getFamily() == AF_INET6 ? cfg.bind6 : cfg.bind4) = bound;
  const auto cannot_bind = [&](const std::string& why) {
    return std::runtime_error("cannot bind the DHT's UDP socket on " +
                              host_port(options_.ip, options_.port) + ": " + why +
                              " (another peer on this host? give each its own dht_port, or 0)");
  };
  try {
    runner_->run(cfg, {});
  } catch (const std::exception& e) {
    throw cannot_bind(e.what());
  }
  runner_->registerType(dht::ValueType(kHolderType, "p2p-share holder", options_.value_ttl));
  port_ = runner_->getBoundPort(bound.getFamily());
  if (port_ == 0) {
    runner_->join();
    throw cannot_bind("not bound");
  }
}

DhtNode::~DhtNode() {
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    queue_.clear();
  }
  timer_.cancel();
  runner_->join();
}

void DhtNode::bootstrap(const std::string& host, uint16_t port) {
  runner_->bootstrap(host, std::to_string(port));
}

void DhtNode::publish(std::vector<HolderRecord> files) {
  std::lock_guard lock(mu_);
  if (stopped_) return;
  std::map<std::string, HolderRecord> now;
  for (auto& f : files) now.emplace(f.name, std::move(f));
  // Gone or changed: withdrawn.
  for (auto it = published_.begin(); it != published_.end();) {
    const auto found = now.find(it->first);
    if (found != now.end() && found->second == it->second.record) {
      now.erase(found);
      ++it;
      continue;
    }
    for (const auto& [key, id] : it->second.keys) enqueue_locked({key, {}, id});
    it = published_.erase(it);
  }
  // New or changed: put under the name's key and, once hashed, the content's.
  for (auto& [name, record] : now) {
    Published p{record, {}};
    const std::string value = encode_record(record);
    std::vector<std::string> keys{name_key_string(record.name)};
    if (!record.sha256.empty()) keys.push_back(sha256_key_string(record.sha256));
    for (auto& key : keys) {
      const uint64_t id = random_id();
      p.keys.emplace_back(key, id);
      enqueue_locked({std::move(key), value, id});
    }
    published_.emplace(name, std::move(p));
  }
  start_pacer_locked();
}

void DhtNode::enqueue_locked(Op op) {
  // A put still waiting for its turn and withdrawn before it: neither is sent.
  if (op.value.empty()) {
    for (auto it = queue_.begin(); it != queue_.end(); ++it)
      if (it->id == op.id && it->key == op.key) {
        queue_.erase(it);
        return;
      }
  }
  queue_.push_back(std::move(op));
}

void DhtNode::start_pacer_locked() {
  if (pacing_ || queue_.empty()) return;
  pacing_ = true;
  // Through the timer, so that the destructor's cancel reaches a pending start too.
  timer_.expires_after(std::chrono::milliseconds(0));
  timer_.async_wait([this](std::error_code ec) {
    if (!ec) pace();
  });
}

// One batch per tick: ops_per_second spread over ten ticks a second.
void DhtNode::pace() {
  std::vector<Op> batch;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    const size_t per_tick = std::max<size_t>(1, static_cast<size_t>(options_.ops_per_second / 10));
    while (!queue_.empty() && batch.size() < per_tick) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    if (batch.empty()) {
      pacing_ = false;
      return;
    }
  }
  for (const auto& op : batch) run_op(op);
  timer_.expires_after(std::chrono::milliseconds(100));
  timer_.async_wait([this](std::error_code ec) {
    if (!ec) pace();
  });
}

void DhtNode::run_op(const Op& op) {
  const auto key = dht::InfoHash::get(op.key);
  if (op.value.empty()) {
    runner_->cancelPut(key, op.id);
    withdrawals_.add();
    return;
  }
  auto value = std::make_shared<dht::Value>(
      kHolderType, reinterpret_cast<const uint8_t*>(op.value.data()), op.value.size(), op.id);
  // Permanent: OpenDHT announces it again before it expires, until cancelPut.
  runner_->put(
      key, std::move(value),
      [this](bool ok) {
        (ok ? puts_ok_ : puts_failed_).add();
        if (!ok) spdlog::debug("DHT put failed (no node reached yet?)");
      },
      dht::time_point::max(), true);
}

asio::awaitable<Discovery::Found> DhtNode::find(std::string key, size_t max,
                                                std::chrono::milliseconds timeout, Accept accept) {
  struct Lookup {
    std::mutex mu;
    Accept accept;  // dropped when find returns: what it refers to may not outlive the call
    Found found;
    std::set<std::string> addresses;
  };
  auto lookup = std::make_shared<Lookup>();
  lookup->accept = std::move(accept);
  auto signal = std::make_shared<OpSignal>(co_await asio::this_coro::executor);
  const auto start = Clock::now();
  runner_->get(
      dht::InfoHash::get(key),
      [this, lookup, signal, max](const std::vector<std::shared_ptr<dht::Value>>& values) {
        std::lock_guard lock(lookup->mu);
        auto& found = lookup->found;
        if (!lookup->accept) return false;  // find has returned
        for (const auto& v : values) {
          auto r = decode_record(
              std::string_view(reinterpret_cast<const char*>(v->data.data()), v->data.size()));
          if (!r) {
            bad_records_.add();
            continue;
          }
          if (found.holders.size() >= max || !lookup->addresses.insert(r->grpc_address).second)
            continue;
          if (!lookup->accept(*r)) {
            ++found.refused;
            continue;
          }
          found.holders.push_back(std::move(*r));
        }
        if (found.holders.size() < max) return true;
        // Enough: the caller goes on now, not when the lookup has heard from every node it
        // asked (after a churn, dead ones take seconds to time out).
        signal->notify(true);
        return false;
      },
      [signal](bool) { signal->notify(true); }, dht::Value::TypeFilter(kHolderType));
  asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
  co_await (signal->wait() || timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable)));
  get_seconds_.record(Clock::now() - start);
  std::lock_guard lock(lookup->mu);
  lookup->accept = nullptr;
  co_return std::move(lookup->found);
}

size_t DhtNode::good_nodes() const { return runner_->getNodesStats(AF_INET).good_nodes; }
size_t DhtNode::known_nodes() const { return runner_->getNodesStats(AF_INET).getKnownNodes(); }

DhtNode::MessageCounts DhtNode::messages(bool in) const {
  const std::vector<unsigned> fresh = runner_->getNodeMessageStats(in);
  std::lock_guard lock(mu_);
  auto& total = messages_[in ? 1 : 0];
  for (size_t i = 0; i < total.size() && i < fresh.size(); ++i) total[i] += fresh[i];
  return total;
}

size_t DhtNode::published() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [name, p] : published_) n += p.keys.size();
  return n;
}

size_t DhtNode::pending() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void DhtNode::stop(std::chrono::milliseconds grace) {
  std::vector<std::pair<std::string, uint64_t>> keys;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    queue_.clear();
    for (const auto& [name, p] : published_)
      for (const auto& k : p.keys) keys.push_back(k);
    published_.clear();
  }
  timer_.cancel();
  // cancelPut only stops the re-announcing; the stored copies live out their ttl.
  for (const auto& [key, id] : keys) runner_->cancelPut(dht::InfoHash::get(key), id);
  std::promise<void> down;
  runner_->shutdown([&down] { down.set_value(); });
  down.get_future().wait_for(grace);
  runner_->join();
}

void DhtNode::write_metrics(metrics::Exposition& e) const {
  e.family("p2p_dht_operations_total", "counter", "DHT operations this peer started");
  e.sample("p2p_dht_operations_total", {{"op", "put"}, {"outcome", "ok"}}, puts_ok_.value());
  e.sample("p2p_dht_operations_total", {{"op", "put"}, {"outcome", "failed"}},
           puts_failed_.value());
  e.sample("p2p_dht_operations_total", {{"op", "withdraw"}, {"outcome", "ok"}},
           withdrawals_.value());
  e.family("p2p_dht_messages_total", "counter",
           "DHT UDP messages sent (out) and received (in), by type: what lookups, puts and "
           "the routing table's upkeep cost");
  for (const bool in : {false, true}) {
    const auto counts = messages(in);
    for (size_t i = 0; i < counts.size(); ++i)
      e.sample("p2p_dht_messages_total",
               {{"direction", in ? "in" : "out"}, {"type", kMessageTypes[i]}}, counts[i]);
  }
  e.family("p2p_dht_get_duration_seconds", "histogram", "DHT lookups, until done or timed out");
  e.histogram("p2p_dht_get_duration_seconds", {}, get_seconds_);
  e.family("p2p_dht_bad_records_total", "counter", "DHT values that were not valid holders");
  e.sample("p2p_dht_bad_records_total", {}, bad_records_.value());
  e.family("p2p_dht_nodes", "gauge", "good nodes in the DHT routing table (IPv4)");
  e.sample("p2p_dht_nodes", {}, static_cast<uint64_t>(good_nodes()));
  e.family("p2p_dht_published_values", "gauge",
           "values this peer publishes (name and content keys)");
  e.sample("p2p_dht_published_values", {}, static_cast<uint64_t>(published()));
  e.family("p2p_dht_pending_operations", "gauge", "puts and withdrawals waiting their turn");
  e.sample("p2p_dht_pending_operations", {}, static_cast<uint64_t>(pending()));
}

}  // namespace p2p
