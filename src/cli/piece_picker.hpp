// Which piece each holder fetches next in a multi-source download: a plain data structure
// (no sockets, no clock), driven by one coroutine per holder. Pieces go out lowest first;
// when none is left unrequested (the end-game), a holder may take a piece another holder
// is still fetching, so one slow holder cannot stall the finish. A verified piece is done
// for everyone; a failed one goes back to the pool; a dropped holder's pieces too.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <vector>

namespace p2p {

class PiecePicker {
 public:
  using Source = uint32_t;

  // `have`: pieces already verified on disk (a resumed download); empty = none.
  explicit PiecePicker(uint64_t piece_count, std::vector<bool> have = {});

  // The next piece for `s` to fetch, or nullopt when there is nothing for it (every piece
  // verified, or in the end-game already being fetched by `s` or by two holders).
  std::optional<uint64_t> pick(Source s);

  // Piece i arrived from `s` and verified. Returns the other holders still fetching it
  // (their copies are no longer needed).
  std::vector<Source> verified(uint64_t i, Source s);

  // `s` did not deliver piece i (error, bad bytes, cancelled): it may be picked again.
  void abandoned(uint64_t i, Source s);

  // `s` is gone: every piece it was fetching may be picked again.
  void drop(Source s);

  bool done(uint64_t i) const { return done_[i]; }
  bool complete() const { return remaining_ == 0; }
  // No piece is left that nobody fetches: a pick now is a second copy.
  bool end_game() const { return idle_.empty(); }
  uint64_t remaining() const { return remaining_; }
  uint64_t piece_count() const { return done_.size(); }
  // Pieces `s` is fetching now.
  size_t in_flight(Source s) const;

 private:
  static constexpr size_t kMaxCopies = 2;  // holders fetching one piece at once, end-game

  std::vector<bool> done_;
  std::vector<std::set<Source>> fetching_;  // per piece: who is fetching it
  std::set<uint64_t> idle_;                 // not done and fetched by nobody
  uint64_t remaining_ = 0;
};

// How many pieces to keep in flight at a holder that delivers `bytes_per_second`: enough
// to cover `latency` of its bandwidth-delay product, at least 1 and at most `max`.
uint32_t piece_window(double bytes_per_second, uint64_t piece_size, double latency_seconds = 0.05,
                      uint32_t max = 8);

}  // namespace p2p
