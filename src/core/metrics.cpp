#include "core/metrics.hpp"

#include <dirent.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <fstream>
#include <string>

namespace p2p::metrics {

size_t shard_index() {
  static std::atomic<size_t> next{0};
  thread_local const size_t mine = next.fetch_add(1, std::memory_order_relaxed) % kShards;
  return mine;
}

uint64_t Counter::value() const {
  uint64_t n = 0;
  for (const auto& c : cells_) n += c.v.load(std::memory_order_relaxed);
  return n;
}

Histogram::Histogram(std::vector<uint64_t> bounds, double divisor)
    : bounds_(std::move(bounds)),
      divisor_(divisor),
      stride_((bounds_.size() + 2 + 7) / 8 * 8),
      cells_(new std::atomic<uint64_t>[kShards * stride_]) {
  for (size_t i = 0; i < kShards * stride_; ++i) cells_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(uint64_t v) {
  size_t b = 0;
  while (b < bounds_.size() && v > bounds_[b]) ++b;
  std::atomic<uint64_t>* shard = &cells_[shard_index() * stride_];
  shard[b].fetch_add(1, std::memory_order_relaxed);
  shard[bounds_.size() + 1].fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.cumulative.assign(bounds_.size() + 1, 0);
  for (size_t shard = 0; shard < kShards; ++shard) {
    const std::atomic<uint64_t>* c = &cells_[shard * stride_];
    for (size_t b = 0; b <= bounds_.size(); ++b)
      s.cumulative[b] += c[b].load(std::memory_order_relaxed);
    s.sum += c[bounds_.size() + 1].load(std::memory_order_relaxed);
  }
  for (size_t b = 1; b < s.cumulative.size(); ++b) s.cumulative[b] += s.cumulative[b - 1];
  return s;
}

std::vector<uint64_t> latency_bounds_us() {
  return {100,   250,    500,    1000,   2500,    5000,    10000,   25000,
          50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};
}

namespace {

void append_number(std::string& out, double v) {
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, ec == std::errc{} ? end : buf);
}

void append_number(std::string& out, uint64_t v) { out += std::to_string(v); }

// Bucket bounds in plain decimal ("0.0001", not "1e-04"), so that a query naming a bound
// finds it.
void append_bound(std::string& out, double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  out.append(buf, ec == std::errc{} ? end : buf);
}

void append_label_value(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

}  // namespace

void Exposition::family(std::string_view name, std::string_view type, std::string_view help) {
  out_.append("# HELP ").append(name).append(" ");
  for (char c : help) out_ += c == '\n' ? ' ' : c;
  out_.append("\n# TYPE ").append(name).append(" ").append(type).append("\n");
}

void Exposition::series(std::string_view name, std::string_view suffix, Labels labels,
                        std::string_view extra_label, std::string_view extra_value) {
  out_.append(name).append(suffix);
  if (labels.size() == 0 && extra_label.empty()) {
    out_ += ' ';
    return;
  }
  out_ += '{';
  bool first = true;
  auto one = [&](std::string_view k, std::string_view v) {
    if (!first) out_ += ',';
    first = false;
    out_.append(k).append("=\"");
    append_label_value(out_, v);
    out_ += '"';
  };
  for (const auto& [k, v] : labels) one(k, v);
  if (!extra_label.empty()) one(extra_label, extra_value);
  out_ += "} ";
}

void Exposition::sample(std::string_view name, Labels labels, double value) {
  series(name, "", labels);
  append_number(out_, value);
  out_ += '\n';
}

void Exposition::sample(std::string_view name, Labels labels, uint64_t value) {
  series(name, "", labels);
  append_number(out_, value);
  out_ += '\n';
}

void Exposition::histogram(std::string_view name, Labels labels, const Histogram& h) {
  const auto s = h.snapshot();
  std::string le;
  for (size_t b = 0; b <= h.bounds().size(); ++b) {
    le.clear();
    if (b < h.bounds().size())
      append_bound(le, static_cast<double>(h.bounds()[b]) / h.divisor());
    else
      le = "+Inf";
    series(name, "_bucket", labels, "le", le);
    append_number(out_, s.cumulative[b]);
    out_ += '\n';
  }
  series(name, "_sum", labels);
  append_number(out_, static_cast<double>(s.sum) / h.divisor());
  out_ += '\n';
  series(name, "_count", labels);
  append_number(out_, s.cumulative.back());
  out_ += '\n';
}

void write_process_metrics(Exposition& e) {
  const long page = sysconf(_SC_PAGESIZE);
  uint64_t size = 0, resident = 0;
  if (std::ifstream statm("/proc/self/statm"); statm >> size >> resident) {
    e.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    e.sample("process_resident_memory_bytes", {}, resident * static_cast<uint64_t>(page));
  }
  if (DIR* d = opendir("/proc/self/fd")) {
    uint64_t n = 0;
    while (const dirent* ent = readdir(d))
      if (ent->d_name[0] != '.') ++n;
    closedir(d);
    e.family("process_open_fds", "gauge", "Number of open file descriptors.");
    e.sample("process_open_fds", {}, n > 0 ? n - 1 : 0);  // not the one reading the folder
  }
  // Field 22 of /proc/self/stat: start time in clock ticks after boot.
  std::ifstream stat("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  std::ifstream uptime_file("/proc/uptime");
  double uptime = 0;
  const auto close_paren = text.rfind(')');
  if (close_paren != std::string::npos && (uptime_file >> uptime)) {
    std::string_view rest = std::string_view(text).substr(close_paren + 2);
    for (int field = 3; field < 22 && !rest.empty(); ++field)
      rest.remove_prefix(rest.find(' ') + 1);
    uint64_t ticks = 0;
    std::from_chars(rest.data(), rest.data() + rest.size(), ticks);
    const double boot = static_cast<double>(time(nullptr)) - uptime;
    e.family("process_start_time_seconds", "gauge",
             "Start time of the process since the Unix epoch in seconds.");
    e.sample("process_start_time_seconds", {},
             boot + static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK)));
  }
}

}  // namespace p2p::metrics
