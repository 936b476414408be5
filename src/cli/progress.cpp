#include "cli/progress.hpp"

#include <unistd.h>

#include <cctype>
#include <charconv>
#include <cstdio>
#include <limits>

namespace p2p::cli {

std::string human_bytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1000 && unit < 4) {
    v /= 1000;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, unit == 0 ? "%.0f %s" : "%.1f %s", v, kUnits[unit]);
  return buf;
}

ProgressBar::ProgressBar(std::string label)
    : label_(std::move(label)),
      enabled_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

void ProgressBar::update(uint64_t done, uint64_t total, size_t sources) {
  done_ = done;
  total_ = total;
  sources_ = sources;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  draw();
}

void ProgressBar::finish() {
  if (!enabled_) return;
  draw();
  std::fputc('\n', stderr);
}

void ProgressBar::draw() {
  drawn_ = true;
  const uint64_t done = done_, total = total_;
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = secs > 0 ? static_cast<double>(done) / secs : 0;
  std::string line = "\r" + label_ + "  " + human_bytes(done);
  if (total > 0) {
    const int pct =
        static_cast<int>(100.0 * static_cast<double>(done) / static_cast<double>(total));
    constexpr int kWidth = 24;
    const int fill = pct * kWidth / 100;
    line += " / " + human_bytes(total) + " [" + std::string(fill, '#') +
            std::string(kWidth - fill, '.') + "] " + std::to_string(pct) + "%";
  }
  if (sources_ > 0)
    line += " verified, " + std::to_string(sources_) + (sources_ == 1 ? " source" : " sources");
  line += "  " + human_bytes(static_cast<uint64_t>(rate)) + "/s";
  if (total > 0 && rate > 0 && done < total) {
    const auto eta = static_cast<uint64_t>(static_cast<double>(total - done) / rate);
    char buf[32];
    std::snprintf(buf, sizeof buf, "  ETA %llu:%02llu", static_cast<unsigned long long>(eta / 60),
                  static_cast<unsigned long long>(eta % 60));
    line += buf;
  }
  line += "\x1b[K";
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

Result<uint64_t> parse_rate(std::string_view text) {
  const auto bad = [&](std::string_view why) {
    return Problem{"'" + std::string(text) + "' " + std::string(why) +
                   " (a byte rate: digits with an optional k, M or G, e.g. 500k or 10M)"};
  };
  uint64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end == text.data()) return bad("is not a number");
  std::string unit(end, text.data() + text.size());
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (unit.ends_with("b/s"))
    unit.resize(unit.size() - 3);
  else if (unit.ends_with('b'))
    unit.pop_back();
  uint64_t scale = 1;
  if (unit == "k")
    scale = 1000;
  else if (unit == "m")
    scale = 1000 * 1000;
  else if (unit == "g")
    scale = 1000 * 1000 * 1000;
  else if (!unit.empty())
    return bad("has an unknown unit");
  if (n > std::numeric_limits<uint64_t>::max() / scale) return bad("is too large");
  return n * scale;
}

std::string holder_summary(const HolderStats& s) {
  std::string line = s.label + ": " + std::to_string(s.pieces_verified) + " pieces verified, " +
                     std::to_string(s.pieces_rejected) + " rejected, " + human_bytes(s.bytes) +
                     " received";
  if (s.dropped) line += "; dropped: " + s.why_dropped;
  return line;
}

}  // namespace p2p::cli
