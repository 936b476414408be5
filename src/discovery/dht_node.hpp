// This peer's OpenDHT node: the Discovery the search asks. OpenDHT runs its own thread;
// its callbacks only take a lock or hand results to the io_context, never block.
#pragma once

#include <array>
#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "discovery/discovery.hpp"

namespace dht {
class DhtRunner;
}

namespace p2p {

struct DhtOptions {
  std::string ip = "0.0.0.0";     // the address the UDP socket binds (IPv4)
  uint16_t port = 4222;           // 0: any free port
  uint32_t network = 0x70327032;  // a private network id: 0 is OpenDHT's public network
  // How long a value lives on the nodes that store it unless re-announced. A stopped peer
  // withdraws its values; a killed one's vanish within this.
  std::chrono::seconds value_ttl{600};
  double ops_per_second = 50;  // puts and withdrawals, paced
};

class DhtNode final : public Discovery {
 public:
  // Binds the socket and starts OpenDHT's thread; throws when the port cannot be bound.
  DhtNode(asio::any_io_executor ex, DhtOptions options);
  ~DhtNode() override;  // stops (without waiting to withdraw)

  uint16_t port() const { return port_; }

  // Another node to join the network through ("host", port), e.g. a neighbour's.
  void bootstrap(const std::string& host, uint16_t port);

  void publish(std::vector<HolderRecord> files) override;
  asio::awaitable<Found> find(std::string key, size_t max, std::chrono::milliseconds timeout,
                              Accept accept) override;
  void write_metrics(metrics::Exposition& e) const override;

  // Nodes in the routing table: that answered us lately (good), or all we know of.
  size_t good_nodes() const;
  size_t known_nodes() const;
  // Records published and not withdrawn; operations waiting their turn.
  size_t published() const;
  size_t pending() const;

  // UDP messages this node sent (in = false) or received since it started, by type, in
  // OpenDHT's order: ping, find, get, listen, put.
  static constexpr std::array<const char*, 5> kMessageTypes{"ping", "find", "get", "listen", "put"};
  using MessageCounts = std::array<uint64_t, kMessageTypes.size()>;
  MessageCounts messages(bool in) const;

  // Withdraws every value it can within `grace`, then shuts the node down.
  void stop(std::chrono::milliseconds grace);

 private:
  struct Op {
    std::string key;
    std::string value;  // empty: withdraw
    uint64_t id;
  };
  struct Published {
    HolderRecord record;
    std::vector<std::pair<std::string, uint64_t>> keys;  // key, value id
  };
  void enqueue_locked(Op op);
  void start_pacer_locked();
  void pace();
  void run_op(const Op& op);

  asio::any_io_executor ex_;
  DhtOptions options_;
  std::unique_ptr<dht::DhtRunner> runner_;
  uint16_t port_ = 0;
  asio::steady_timer timer_;

  mutable std::mutex mu_;
  std::map<std::string, Published> published_;  // by file name
  std::deque<Op> queue_;
  bool pacing_ = false;
  bool stopped_ = false;
  uint64_t next_id_;

  // OpenDHT's message counts reset when read: they are added up here (under mu_).
  mutable std::array<MessageCounts, 2> messages_{};

  metrics::Counter puts_ok_, puts_failed_, withdrawals_, bad_records_;
  metrics::DurationHistogram get_seconds_;
};

}  // namespace p2p
