// Metrics for GET /metrics in the Prometheus text exposition format 0.0.4. Counters and
// histograms are sharded: each thread adds to its own cache line with a relaxed atomic,
// so the hot path never takes a lock or shares a line; a scrape sums the shards. Each
// component owns the metrics of what it does and writes them into an Exposition.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace p2p::metrics {

inline constexpr size_t kShards = 8;

// This thread's shard, given out round-robin on first use.
size_t shard_index();

class Counter {
 public:
  void add(uint64_t n = 1) { cells_[shard_index()].v.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const;

 private:
  struct alignas(64) Cell {
    std::atomic<uint64_t> v{0};
  };
  std::array<Cell, kShards> cells_;
};

// Observations are whole numbers of a unit (microseconds, bytes); dividing by `divisor`
// gives the exposed unit (1e6: microseconds to seconds). Bounds are upper bounds in the
// observed unit.
class Histogram {
 public:
  Histogram(std::vector<uint64_t> bounds, double divisor);
  void observe(uint64_t v);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // per bound, then +Inf
    uint64_t sum = 0;
  };
  Snapshot snapshot() const;
  uint64_t count() const { return snapshot().cumulative.back(); }
  std::span<const uint64_t> bounds() const { return bounds_; }
  double divisor() const { return divisor_; }

 private:
  std::vector<uint64_t> bounds_;
  double divisor_;
  size_t stride_;  // counters per shard: buckets, +Inf, sum; rounded up to a cache line
  std::unique_ptr<std::atomic<uint64_t>[]> cells_;
};

// Latency buckets from 100 µs to 10 s, in microseconds.
std::vector<uint64_t> latency_bounds_us();

// Durations, exposed in seconds; its _count is the number of events, so no counter of
// the same events is kept beside it.
class DurationHistogram : public Histogram {
 public:
  explicit DurationHistogram(std::vector<uint64_t> bounds_us = latency_bounds_us())
      : Histogram(std::move(bounds_us), 1e6) {}
  void record(std::chrono::steady_clock::duration d) {
    observe(
        static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(d).count()));
  }
};

using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

// The text of one scrape. family() starts a metric (HELP and TYPE lines), then its
// samples follow.
class Exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, Labels labels, double value);
  void sample(std::string_view name, Labels labels, uint64_t value);
  void histogram(std::string_view name, Labels labels, const Histogram& h);
  const std::string& text() const { return out_; }

 private:
  void series(std::string_view name, std::string_view suffix, Labels labels,
              std::string_view extra_label = {}, std::string_view extra_value = {});
  std::string out_;
};

// process_resident_memory_bytes, process_open_fds, process_start_time_seconds (Linux /proc).
void write_process_metrics(Exposition& e);

// Series created on first use, found after that without a lock: a fixed table of slots
// that are null until a series is made for them.
template <class T, size_t N>
class LazySlots {
 public:
  template <class Make>
  T& at(size_t i, Make&& make) {
    T* p = slots_[i].load(std::memory_order_acquire);
    if (p) return *p;
    std::lock_guard lock(mu_);
    p = slots_[i].load(std::memory_order_relaxed);
    if (!p) {
      owned_.push_back(make());
      p = owned_.back().get();
      slots_[i].store(p, std::memory_order_release);
    }
    return *p;
  }
  // The series made so far, or null.
  const T* get(size_t i) const { return slots_[i].load(std::memory_order_acquire); }
  static constexpr size_t size() { return N; }

 private:
  std::array<std::atomic<T*>, N> slots_{};
  std::mutex mu_;
  std::vector<std::unique_ptr<T>> owned_;
};

}  // namespace p2p::metrics
