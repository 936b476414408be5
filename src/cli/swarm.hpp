// A multi-source download of one file whose manifest is known: every holder fetches runs of
// pieces at once, each piece is verified before it is written into DIR/.p2p-part-NAME, and
// the whole file is checked before it is renamed to NAME. A record of the verified pieces,
// DIR/.p2p-state-NAME, lets the next download of the same content fetch only what is
// missing. Holders are reached through PieceSource, so the engine is tested without sockets.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "content/manifest.hpp"
#include "core/names.hpp"
#include "core/result.hpp"
#include "core/token_bucket.hpp"

namespace p2p {

// One holder of the file.
class PieceSource {
 public:
  virtual ~PieceSource() = default;
  // Who this is, for statistics and messages ("10.0.0.2:50051").
  virtual std::string label() const = 0;
  // Streams bytes [offset, offset + length) into `sink`, blocking until done. False from the
  // sink, or `stop` (requested from another thread, even before the call starts), ends it
  // soon; that is not a failure of the holder. A token per call: no stop outlives its fetch.
  virtual Result<void> fetch(uint64_t offset, uint64_t length,
                             const std::function<bool(std::string_view)>& sink,
                             std::stop_token stop) = 0;
};

struct SwarmFailure {
  enum class Kind {
    invalid,         // a bad name, folder or manifest
    exists,          // NAME is in the folder already (and not `force`)
    io,              // the folder or the part file failed
    unavailable,     // no holder left to ask (they failed, or there were none)
    did_not_verify,  // some piece (or the whole file) came from nobody with the right bytes
    cancelled,       // cancel() was called
  };
  Kind kind;
  std::string why;
};

// What one holder did in this download.
struct HolderStats {
  std::string label;
  uint64_t pieces_verified = 0;
  uint64_t pieces_rejected = 0;  // arrived, but did not match the manifest
  uint64_t bytes = 0;            // received, good or not
  bool dropped = false;          // failed or sent bad bytes, so no longer asked
  std::string why_dropped;
};

struct SwarmOptions {
  bool force = false;           // replace NAME, and ignore a part file's record
  TokenBucket* rate = nullptr;  // shared by all holders (--max-rate); null: unlimited
  uint32_t max_window = 8;      // pieces one holder fetches in one request at most
  std::chrono::milliseconds state_interval{250};  // how often the record is rewritten
  // (pieces already verified on disk, piece count): once the part file is open, before any
  // holder is asked, so a resumed download can say so first.
  std::function<void(uint64_t, uint64_t)> started;
  // (sources in use, verified bytes, total bytes); called from worker threads, one at a time.
  std::function<void(size_t, uint64_t, uint64_t)> progress;
  // The clock and the wait the rate limit uses; tests pass simulated ones.
  std::function<TokenBucket::Clock::time_point()> now = TokenBucket::Clock::now;
  std::function<void(TokenBucket::Clock::duration)> sleep;
};

class Swarm {
 public:
  Swarm(Manifest manifest, std::string name, std::filesystem::path out_dir,
        std::vector<std::unique_ptr<PieceSource>> sources, SwarmOptions options = {});
  ~Swarm();
  Swarm(const Swarm&) = delete;
  Swarm& operator=(const Swarm&) = delete;

  // Downloads the file; returns where it landed. On failure the part file and its record
  // stay for the next attempt (never anything under NAME).
  Result<std::filesystem::path, SwarmFailure> run();

  // From any thread (a signal handler's, say): stops run() soon, keeping what verified.
  void cancel();

  std::vector<HolderStats> stats() const;
  // Pieces already verified on disk when run() started (from the record, re-checked).
  uint64_t pieces_resumed() const { return resumed_; }

 private:
  struct Worker;
  struct Batch;

  void work(size_t w);
  bool next_batch(size_t w, Batch& batch);
  void fetch_batch(size_t w, Batch& batch);
  void piece_arrived(size_t w, uint64_t piece, std::string& data);
  void drop(size_t w, std::string why, bool bad_data);
  void throttle(uint64_t bytes);
  void save_state(bool now);
  void report_progress();

  Result<void, SwarmFailure> open_part();
  Result<std::filesystem::path, SwarmFailure> finish();

  const Manifest manifest_;
  const std::string name_;
  const std::filesystem::path out_dir_;
  SwarmOptions options_;
  std::vector<std::unique_ptr<Worker>> workers_;
  uint64_t resumed_ = 0;
  std::atomic<bool> cancelled_{false};

  struct State;
  std::unique_ptr<State> state_;  // the picker, the part file and what guards them
};

}  // namespace p2p
