#include "cli/swarm.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <optional>
#include <sstream>
#include <thread>

#include "cli/piece_picker.hpp"
#include "core/names.hpp"
#include "core/write_all.hpp"
#include "io/shared_folder.hpp"

namespace p2p {
namespace {

using Kind = SwarmFailure::Kind;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kStateMagic = "p2p-part-state 1";

SwarmFailure io_failure(std::string_view what, std::string_view name, int err = errno) {
  return {Kind::io, std::string(what) + " '" + std::string(name) + "': " + std::strerror(err)};
}

bool pread_all(int fd, std::string& buf, uint64_t offset) {
  size_t done = 0;
  while (done < buf.size()) {
    const ssize_t n =
        ::pread(fd, buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

std::optional<std::string> read_small_file(int dirfd, const std::string& name) {
  UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string text;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) return text;
    text.append(buf, static_cast<size_t>(n));
  }
}

// The record of verified pieces: a few lines of text, so a user can see what it is.
std::string format_state(const Manifest& m, const std::vector<bool>& have) {
  std::string bits((have.size() + 7) / 8, '\0');
  for (size_t i = 0; i < have.size(); ++i)
    if (have[i]) bits[i / 8] = static_cast<char>(bits[i / 8] | (0x80 >> (i % 8)));
  std::string hex;
  static constexpr char kDigits[] = "0123456789abcdef";
  for (unsigned char c : bits) {
    hex += kDigits[c >> 4];
    hex += kDigits[c & 15];
  }
  std::ostringstream out;
  out << kStateMagic << "\nsha256 " << to_hex(m.sha256) << "\nsize " << m.size << "\npiece_size "
      << m.piece_size << "\nverified " << (hex.empty() ? "-" : hex) << "\n";
  return out.str();
}

// The pieces a record says are verified, if it describes exactly this content; else none.
std::vector<bool> parse_state(const Manifest& m, const std::string& text) {
  std::istringstream in(text);
  std::string magic, version, k1, sha, k2, k3, k4, hex;
  uint64_t size = 0, piece_size = 0;
  in >> magic >> version >> k1 >> sha >> k2 >> size >> k3 >> piece_size >> k4 >> hex;
  if (!in || magic + " " + version != kStateMagic || k1 != "sha256" || k2 != "size" ||
      k3 != "piece_size" || k4 != "verified")
    return {};
  const auto digest = sha256_from_hex(sha);
  if (!digest || *digest != m.sha256 || size != m.size || piece_size != m.piece_size) return {};
  const uint64_t n = m.piece_count();
  if (hex == "-") hex.clear();
  if (hex.size() != (n + 7) / 8 * 2) return {};
  std::vector<bool> have(n, false);
  for (uint64_t i = 0; i < n; ++i) {
    const char c = hex[i / 4];
    const int nibble = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (nibble < 0) return {};
    have[i] = nibble & (8 >> (i % 4));
  }
  return have;
}

bool well_formed(const Manifest& m) {
  return m.piece_size > 0 && m.pieces.size() == piece_count_for(m.size, m.piece_size);
}

}  // namespace

struct Swarm::Worker {
  std::unique_ptr<PieceSource> source;
  HolderStats stats;  // guarded by State::mu
  double rate = 0;    // bytes per second over its last request; its thread only

  std::mutex mu;          // guards `stop`; taken after State::mu when both are
  std::stop_source stop;  // ends its request in progress; a new one for each request
};

// A run of consecutive pieces fetched in one request.
struct Swarm::Batch {
  uint64_t first = 0, count = 0;
  uint64_t next = 0;        // the piece the arriving bytes belong to
  std::string buf;          // its bytes so far: kept until verified, since only then written
  Sha256Hasher buf_digest;  // of `buf`, fed the received slices as they come
  std::stop_token stop;
};

struct Swarm::State {
  std::mutex mu;  // the picker, the holders' statistics, `rejected`, `fatal`
  std::condition_variable changed;
  PiecePicker picker{0};
  std::vector<bool> rejected;  // pieces someone sent wrong bytes for
  std::optional<SwarmFailure> fatal;
  uint64_t verified_bytes = 0;

  UniqueFd dir;   // DIR: every name below is opened relative to it
  UniqueFd part;  // DIR/.p2p-part-NAME, locked while the download runs
  std::string part_name, state_name, state_temp;  // .p2p-part-NAME, .p2p-state-NAME, a temp

  // The whole-file digest, fed the pieces in file order as they verify: a piece that is the
  // next one is digested from memory; one that verified early is read back when its turn
  // comes. So the last piece leaves little to do, and the file is not read again.
  std::mutex whole_mu;
  Sha256Hasher whole;
  uint64_t whole_next = 0;  // pieces [0, whole_next) are in `whole`
  // `piece` has just verified with `data`: digests what is next in order; false when a
  // piece could not be read back.
  bool digest_in_order(const Manifest& manifest, uint64_t piece, std::string_view data);

  // The whole-file digest runs on a thread of its own, beside the piece checks of the
  // holders' threads: a second SHA-256 pass over every byte is what verifying costs most.
  // Verified pieces wait for it with their bytes, a few at most (a full queue holds the
  // holder back); `data` is swapped for a buffer it is done with.
  void queue_digest(uint64_t piece, std::string& data);
  void digest_pieces(const Manifest& manifest);  // the thread, until stop_digest() and drained
  void stop_digest();
  static constexpr size_t kDigestQueue = 4;
  std::mutex digest_mu;
  std::condition_variable digest_changed;
  std::deque<std::pair<uint64_t, std::string>> to_digest;
  std::vector<std::string> spare;  // buffers the digest is done with
  bool digest_stopping = false;

  std::mutex save_mu;
  Clock::time_point last_save{};
  std::mutex progress_mu;
  std::mutex sleep_mu;
  std::condition_variable wake;  // ends a rate-limit wait early on cancel()
};

Swarm::Swarm(Manifest manifest, std::string name, std::filesystem::path out_dir,
             std::vector<std::unique_ptr<PieceSource>> sources, SwarmOptions options)
    : manifest_(std::move(manifest)),
      name_(std::move(name)),
      out_dir_(std::move(out_dir)),
      options_(std::move(options)),
      state_(std::make_unique<State>()) {
  for (auto& s : sources) {
    auto w = std::make_unique<Worker>();
    w->stats.label = s->label();
    w->source = std::move(s);
    workers_.push_back(std::move(w));
  }
}

Swarm::~Swarm() = default;

std::vector<HolderStats> Swarm::stats() const {
  std::lock_guard lock(state_->mu);
  std::vector<HolderStats> out;
  for (const auto& w : workers_) out.push_back(w->stats);
  return out;
}

void Swarm::cancel() {
  cancelled_ = true;
  for (auto& w : workers_) {
    std::lock_guard lock(w->mu);
    w->stop.request_stop();
  }
  { std::lock_guard lock(state_->mu); }
  state_->changed.notify_all();
  { std::lock_guard lock(state_->sleep_mu); }
  state_->wake.notify_all();
}

Result<std::filesystem::path, SwarmFailure> Swarm::run() {
  if (!well_formed(manifest_))
    return SwarmFailure{Kind::invalid, "the manifest's piece hashes do not fit its size"};
  if (auto opened = open_part(); !opened) return opened.error();
  if (options_.started) options_.started(resumed_, manifest_.piece_count());
  State& st = *state_;
  if (!st.picker.complete()) {
    std::thread digest([this] { state_->digest_pieces(manifest_); });
    std::vector<std::thread> threads;
    for (size_t w = 0; w < workers_.size(); ++w) threads.emplace_back([this, w] { work(w); });
    for (auto& t : threads) t.join();
    st.stop_digest();
    digest.join();
  }
  std::unique_lock lock(st.mu);
  if (st.picker.complete()) {
    lock.unlock();
    return finish();
  }
  const auto fatal = st.fatal;
  const uint64_t missing = st.picker.remaining();
  bool missing_rejected = false;
  for (uint64_t i = 0; i < st.picker.piece_count(); ++i)
    missing_rejected = missing_rejected || (!st.picker.done(i) && st.rejected[i]);
  std::string why = std::to_string(missing) + " of " + std::to_string(st.picker.piece_count()) +
                    " pieces missing";
  for (const auto& w : workers_)
    if (w->stats.dropped) why += "; " + w->stats.label + ": " + w->stats.why_dropped;
  lock.unlock();
  save_state(true);
  if (fatal) return *fatal;
  if (cancelled_) return SwarmFailure{Kind::cancelled, "download cancelled; " + why};
  if (workers_.empty()) return SwarmFailure{Kind::unavailable, "no holder to download from"};
  if (missing_rejected) return SwarmFailure{Kind::did_not_verify, "data did not verify: " + why};
  return SwarmFailure{Kind::unavailable, "every holder failed: " + why};
}

Result<void, SwarmFailure> Swarm::open_part() {
  State& st = *state_;
  // The one name check: NAME decides where the file lands, so it must be one plain name.
  if (auto admitted = admit_name(name_, NameUse::save); !admitted)
    return SwarmFailure{Kind::invalid,
                        "invalid file name '" + name_ + "': " + admitted.error().why};
  st.part_name = std::string(kPartPrefix) + name_;
  st.state_name = std::string(kStatePrefix) + name_;
  st.state_temp = std::string(kTempPrefix) + "state-" + name_;
  if (std::max({st.part_name.size(), st.state_name.size(), st.state_temp.size()}) > 255)
    return SwarmFailure{Kind::invalid, "file name '" + name_ +
                                           "' is too long to download: its part file's name "
                                           "would pass 255 bytes"};
  st.dir = UniqueFd(::open(out_dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!st.dir) return io_failure("cannot use output folder", out_dir_.string());
  struct stat sb;
  if (!options_.force && ::fstatat(st.dir.get(), name_.c_str(), &sb, AT_SYMLINK_NOFOLLOW) == 0)
    return SwarmFailure{Kind::exists,
                        (out_dir_ / name_).string() + " already exists (use --force)"};
  st.part = UniqueFd(::openat(st.dir.get(), st.part_name.c_str(),
                              O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!st.part) return io_failure("cannot open", st.part_name);
  if (::flock(st.part.get(), LOCK_EX | LOCK_NB) != 0)
    return SwarmFailure{
        Kind::io, "another download of '" + name_ + "' into " + out_dir_.string() + " is running"};

  const uint64_t n = manifest_.piece_count();
  std::vector<bool> have;
  if (!options_.force)
    if (auto text = read_small_file(st.dir.get(), st.state_name))
      have = parse_state(manifest_, *text);
  // The record is a hint: what it calls verified is hashed again before it is trusted.
  std::string buf;
  for (uint64_t i = 0; i < have.size(); ++i) {
    if (!have[i]) continue;
    buf.resize(manifest_.piece_length(i));
    have[i] =
        pread_all(st.part.get(), buf, manifest_.piece_offset(i)) && manifest_.piece_matches(i, buf);
    // The verified run from the start goes into the whole-file digest now, while it is in
    // memory, instead of being read again at the end.
    if (have[i] && st.whole_next == i) {
      st.whole.update(buf);
      ++st.whole_next;
    }
  }
  const bool resuming = std::find(have.begin(), have.end(), true) != have.end();
  // Other content (or --force): its bytes are of no use; start from an empty file.
  if (!resuming && ::ftruncate(st.part.get(), 0) != 0)
    return io_failure("cannot truncate", st.part_name);
  if (::ftruncate(st.part.get(), static_cast<off_t>(manifest_.size)) != 0)
    return io_failure("cannot size", st.part_name);

  st.picker = PiecePicker(n, have);
  st.rejected.assign(n, false);
  for (uint64_t i = 0; i < have.size(); ++i)
    if (have[i]) {
      ++resumed_;
      st.verified_bytes += manifest_.piece_length(i);
    }
  save_state(true);  // from now on the record describes this content
  return {};
}

void Swarm::work(size_t w) {
  Batch batch;
  while (next_batch(w, batch)) fetch_batch(w, batch);
  report_progress();
}

bool Swarm::next_batch(size_t w, Batch& b) {
  State& st = *state_;
  Worker& wk = *workers_[w];
  const auto s = static_cast<PiecePicker::Source>(w);
  std::unique_lock lock(st.mu);
  for (;;) {
    if (cancelled_ || st.fatal || st.picker.complete() || wk.stats.dropped) return false;
    if (auto first = st.picker.pick(s)) {
      b.first = *first;
      b.count = 1;
      // One request for several pieces keeps a fast holder's pipe full; how many follows its
      // measured rate. Second copies (the end-game) go one piece at a time: each costs bytes.
      const uint32_t window =
          piece_window(wk.rate, manifest_.piece_size, 0.05, std::max(options_.max_window, 1u));
      while (b.count < window && !st.picker.end_game() &&
             b.first + b.count < st.picker.piece_count()) {
        const auto more = st.picker.pick(s);
        if (!more) break;
        if (*more != b.first + b.count) {
          st.picker.abandoned(*more, s);
          break;
        }
        ++b.count;
      }
      b.next = b.first;
      b.buf.clear();
      b.buf_digest.reset();  // a request that ended mid-piece left some of it behind
      std::lock_guard wlock(wk.mu);
      wk.stop = std::stop_source();
      if (cancelled_) wk.stop.request_stop();  // cancel() may have passed this holder already
      b.stop = wk.stop.get_token();
      return true;
    }
    // Nothing for this holder now (end-game); a piece may come back if another one fails.
    st.changed.wait(lock);
  }
}

void Swarm::fetch_batch(size_t w, Batch& b) {
  State& st = *state_;
  Worker& wk = *workers_[w];
  const auto s = static_cast<PiecePicker::Source>(w);
  const uint64_t end = b.first + b.count;
  uint64_t length = 0;
  for (uint64_t i = b.first; i < end; ++i) length += manifest_.piece_length(i);
  std::optional<std::string> bad;  // why this holder is no longer trusted
  uint64_t received = 0;
  const auto started = Clock::now();
  const auto sink = [&](std::string_view chunk) {
    if (b.stop.stop_requested()) return false;
    received += chunk.size();
    {
      std::lock_guard lock(st.mu);
      wk.stats.bytes += chunk.size();
    }
    throttle(chunk.size());
    while (!chunk.empty()) {
      if (b.next == end) {
        bad = "sent more bytes than asked for";
        return false;
      }
      const uint64_t piece_len = manifest_.piece_length(b.next);
      const size_t take =
          static_cast<size_t>(std::min<uint64_t>(chunk.size(), piece_len - b.buf.size()));
      // Hashed while the slice is hot in the cache, not in a second pass over `buf`.
      b.buf_digest.update(chunk.substr(0, take));
      b.buf.append(chunk.substr(0, take));
      chunk.remove_prefix(take);
      if (b.buf.size() < piece_len) continue;
      if (b.buf_digest.finish() != manifest_.pieces[b.next]) {
        bad = "piece " + std::to_string(b.next) + " did not verify";
        std::lock_guard lock(st.mu);
        st.rejected[b.next] = true;
        ++wk.stats.pieces_rejected;
        return false;
      }
      piece_arrived(w, b.next, b.buf);
      ++b.next;
      b.buf.clear();
    }
    return true;
  };
  auto fetched = wk.source->fetch(manifest_.piece_offset(b.first), length, sink, b.stop);
  const bool stopped = b.stop.stop_requested();
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  if (received > 0 && seconds > 0) wk.rate = double(received) / seconds;
  {
    std::lock_guard lock(st.mu);
    for (uint64_t i = b.next; i < end; ++i) st.picker.abandoned(i, s);
    if (bad)
      drop(w, *bad, true);
    else if (!stopped && !fetched)
      drop(w, fetched.error().why, false);
    else if (!stopped && b.next != end)
      drop(w, "ended a range early", false);
  }
  st.changed.notify_all();
}

void Swarm::piece_arrived(size_t w, uint64_t piece, std::string& data) {
  State& st = *state_;
  {
    std::lock_guard lock(st.mu);
    if (st.picker.done(piece)) return;  // a late copy: the first one is on disk already
  }
  if (!pwrite_all(st.part.get(), data, manifest_.piece_offset(piece))) {
    const int err = errno;
    {
      std::lock_guard lock(st.mu);
      if (!st.fatal) st.fatal = io_failure("cannot write", st.part_name, err);
    }
    cancel();
    return;
  }
  std::vector<std::stop_source> copies;  // the other holders' requests for this piece
  {
    std::lock_guard lock(st.mu);
    if (st.picker.done(piece)) return;  // another copy verified while this one was written
    // Written before it is marked verified, so the record never claims bytes not on disk.
    for (uint32_t o : st.picker.verified(piece, static_cast<PiecePicker::Source>(w))) {
      std::lock_guard wlock(workers_[o]->mu);
      copies.push_back(workers_[o]->stop);
    }
    ++workers_[w]->stats.pieces_verified;
    st.verified_bytes += data.size();
  }
  st.changed.notify_all();
  // Only the requests that held the piece (each has its own source): those holders may
  // have moved on since, to pieces still wanted.
  for (auto& c : copies) c.request_stop();
  st.queue_digest(piece, data);
  save_state(false);
  report_progress();
}

bool Swarm::State::digest_in_order(const Manifest& manifest, uint64_t piece,
                                   std::string_view data) {
  std::lock_guard lock_whole(whole_mu);
  if (piece == whole_next && piece < manifest.piece_count()) {
    whole.update(data);
    ++whole_next;
  }
  std::string buf;
  for (;;) {
    const uint64_t next = whole_next;
    {
      std::lock_guard lock(mu);
      if (next >= picker.piece_count() || !picker.done(next)) return true;
    }
    buf.resize(manifest.piece_length(next));
    // Verified and on disk: what is digested is what was checked, read back.
    if (!pread_all(part.get(), buf, manifest.piece_offset(next)) ||
        !manifest.piece_matches(next, buf))
      return false;
    whole.update(buf);
    ++whole_next;
  }
}

void Swarm::State::queue_digest(uint64_t piece, std::string& data) {
  std::unique_lock lock(digest_mu);
  digest_changed.wait(lock, [this] { return to_digest.size() < kDigestQueue; });
  to_digest.emplace_back(piece, std::move(data));
  data = std::string();
  if (!spare.empty()) {
    data = std::move(spare.back());
    spare.pop_back();
  }
  digest_changed.notify_all();
}

void Swarm::State::digest_pieces(const Manifest& manifest) {
  std::unique_lock lock(digest_mu);
  for (;;) {
    digest_changed.wait(lock, [this] { return digest_stopping || !to_digest.empty(); });
    if (to_digest.empty()) return;
    auto [piece, data] = std::move(to_digest.front());
    to_digest.pop_front();
    lock.unlock();
    // A piece that cannot be read back is found again, and reported, by finish().
    digest_in_order(manifest, piece, data);
    data.clear();
    lock.lock();
    spare.push_back(std::move(data));
    digest_changed.notify_all();
  }
}

void Swarm::State::stop_digest() {
  std::lock_guard lock(digest_mu);
  digest_stopping = true;
  digest_changed.notify_all();
}

// Called with State::mu held.
void Swarm::drop(size_t w, std::string why, bool bad_data) {
  Worker& wk = *workers_[w];
  wk.stats.dropped = true;
  wk.stats.why_dropped = bad_data ? "sent bad data (" + why + ")" : std::move(why);
  state_->picker.drop(static_cast<PiecePicker::Source>(w));
}

void Swarm::throttle(uint64_t bytes) {
  if (!options_.rate) return;
  const auto wait = options_.rate->reserve(bytes, options_.now());
  if (wait <= Clock::duration::zero()) return;
  if (options_.sleep) return options_.sleep(wait);
  std::unique_lock lock(state_->sleep_mu);
  state_->wake.wait_for(lock, wait, [this] { return cancelled_.load(); });
}

void Swarm::save_state(bool now) {
  State& st = *state_;
  std::lock_guard save(st.save_mu);
  const auto t = Clock::now();
  if (!now && t - st.last_save < options_.state_interval) return;
  st.last_save = t;
  std::vector<bool> have(manifest_.piece_count());
  {
    std::lock_guard lock(st.mu);
    for (uint64_t i = 0; i < have.size(); ++i) have[i] = st.picker.done(i);
  }
  // Temp + rename: a crash leaves the old record or the new one, never half of one. No fsync:
  // a record ahead of the data only costs the re-check, which hashes every piece it names.
  UniqueFd fd(::openat(st.dir.get(), st.state_temp.c_str(),
                       O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd || !write_all(fd.get(), format_state(manifest_, have)) ||
      ::renameat(st.dir.get(), st.state_temp.c_str(), st.dir.get(), st.state_name.c_str()) != 0)
    ::unlinkat(st.dir.get(), st.state_temp.c_str(), 0);  // without a record, resume starts over
}

void Swarm::report_progress() {
  if (!options_.progress) return;
  State& st = *state_;
  std::lock_guard progress(st.progress_mu);
  size_t in_use = 0;
  uint64_t verified;
  {
    std::lock_guard lock(st.mu);
    for (const auto& w : workers_) in_use += !w->stats.dropped;
    verified = st.verified_bytes;
  }
  options_.progress(in_use, verified, manifest_.size);
}

Result<std::filesystem::path, SwarmFailure> Swarm::finish() {
  State& st = *state_;
  if (::fsync(st.part.get()) != 0) return io_failure("cannot sync", st.part_name);
  // Every piece verified; the whole-file digest (fed in order as they verified; the pieces
  // resumed from an earlier run are read back here) must be the manifest's too.
  if (!st.digest_in_order(manifest_, manifest_.piece_count(), {}))
    return io_failure("cannot read back", st.part_name);
  Sha256 whole;
  {
    std::lock_guard lock(st.whole_mu);
    if (st.whole_next != manifest_.piece_count())
      return SwarmFailure{Kind::io, "'" + st.part_name + "' lost verified pieces"};
    whole = st.whole.finish();
  }
  if (whole != manifest_.sha256)
    return SwarmFailure{
        Kind::did_not_verify,
        "data did not verify: every piece matched, but the whole file's SHA-256 is " +
            to_hex(whole) + ", not " + to_hex(manifest_.sha256)};
  // What is renamed is a name, what was verified a descriptor: they must still be one file.
  struct stat ours, named;
  if (::fstat(st.part.get(), &ours) != 0 ||
      ::fstatat(st.dir.get(), st.part_name.c_str(), &named, AT_SYMLINK_NOFOLLOW) != 0 ||
      ours.st_dev != named.st_dev || ours.st_ino != named.st_ino)
    return SwarmFailure{Kind::io, "'" + st.part_name + "' was replaced during the download"};
  const unsigned flags = options_.force ? 0 : RENAME_NOREPLACE;
  if (::renameat2(st.dir.get(), st.part_name.c_str(), st.dir.get(), name_.c_str(), flags) != 0) {
    if (errno == EEXIST)
      return SwarmFailure{Kind::exists,
                          (out_dir_ / name_).string() + " already exists (use --force)"};
    return io_failure("cannot store", name_);
  }
  ::unlinkat(st.dir.get(), st.state_name.c_str(), 0);
  // The rename itself must survive a crash too.
  if (UniqueFd dir(::openat(st.dir.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)); dir)
    ::fsync(dir.get());
  report_progress();
  return out_dir_ / name_;
}

}  // namespace p2p
