#include "cli/piece_picker.hpp"

#include <algorithm>
#include <cmath>

namespace p2p {

PiecePicker::PiecePicker(uint64_t piece_count, std::vector<bool> have)
    : done_(piece_count, false), fetching_(piece_count) {
  for (uint64_t i = 0; i < piece_count; ++i) {
    done_[i] = i < have.size() && have[i];
    if (!done_[i]) {
      idle_.insert(idle_.end(), i);
      ++remaining_;
    }
  }
}

std::optional<uint64_t> PiecePicker::pick(Source s) {
  if (!idle_.empty()) {
    const uint64_t i = *idle_.begin();
    idle_.erase(idle_.begin());
    fetching_[i].insert(s);
    return i;
  }
  // End-game: the piece fetched by the fewest others, lowest first.
  std::optional<uint64_t> best;
  for (uint64_t i = 0; i < done_.size(); ++i) {
    if (done_[i] || fetching_[i].contains(s) || fetching_[i].size() >= kMaxCopies) continue;
    if (!best || fetching_[i].size() < fetching_[*best].size()) best = i;
  }
  if (best) fetching_[*best].insert(s);
  return best;
}

std::vector<PiecePicker::Source> PiecePicker::verified(uint64_t i, Source s) {
  std::vector<Source> others;
  if (done_[i]) return others;
  done_[i] = true;
  --remaining_;
  idle_.erase(i);
  for (Source o : fetching_[i])
    if (o != s) others.push_back(o);
  fetching_[i].clear();
  return others;
}

void PiecePicker::abandoned(uint64_t i, Source s) {
  if (fetching_[i].erase(s) == 0 || done_[i]) return;
  if (fetching_[i].empty()) idle_.insert(i);
}

void PiecePicker::drop(Source s) {
  for (uint64_t i = 0; i < fetching_.size(); ++i)
    if (fetching_[i].contains(s)) abandoned(i, s);
}

size_t PiecePicker::in_flight(Source s) const {
  size_t n = 0;
  for (const auto& f : fetching_) n += f.contains(s);
  return n;
}

uint32_t piece_window(double bytes_per_second, uint64_t piece_size, double latency_seconds,
                      uint32_t max) {
  if (!(bytes_per_second > 0) || piece_size == 0) return 1;
  const double pieces = std::ceil(bytes_per_second * latency_seconds / double(piece_size));
  return static_cast<uint32_t>(std::clamp(pieces, 1.0, double(max)));
}

}  // namespace p2p
