#include "peer/hasher.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/random_access_file.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>

#include "io/hash_file.hpp"

namespace p2p {
namespace {

using Clock = std::chrono::steady_clock;
// Hashed manifests reach the index in batches (each batch is one new snapshot, a copy of
// the entries): at most this many files, or this long, apart.
constexpr size_t kBatchFiles = 256;
constexpr auto kBatchEvery = std::chrono::milliseconds(200);
// Learned manifests kept for files the index does not list yet: one per upload being
// stored; one whose rename failed is dropped when newer ones push it out.
constexpr size_t kMaxLearned = 64;
// The cache is saved this long after the changes that dirtied it began, not after each one:
// every save fsyncs the cache file, and one per upload (and per deletion) held up the
// uploads' own fsyncs. A manifest lost with an unsaved cache is only hashed again.
constexpr auto kSaveDelay = std::chrono::seconds(1);

}  // namespace

Hasher::Hasher(FileIndex& index, const SharedFolder& folder,
               std::optional<std::filesystem::path> cache_file, uint64_t piece_size)
    : index_(index), folder_(folder), piece_size_(piece_size), wake_(ctx_.get_executor()) {
  if (cache_file) cache_.emplace(std::move(*cache_file));
}

Hasher::~Hasher() { stop(); }

void Hasher::start() {
  if (cache_) {
    const size_t n = cache_->load();
    spdlog::info("Hash cache {}: {} files", cache_->file().string(), n);
  }
  index_.on_change([this] { wake_.notify(true); });
  asio::co_spawn(ctx_, run(), asio::detached);
  thread_ = std::thread([this] {
    // Hashing is background work: at nice 10 (threads it starts inherit it) REST and
    // transfers take the cores first when they want them. Not 19: on a busy host that
    // starved hashing outright (48 s for 256 MiB beside two compilers, against 0.5 s).
    ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
    ctx_.run();
  });
}

void Hasher::stop() {
  if (stopping_.exchange(true)) return;
  wake_.notify(false);
  if (thread_.joinable()) thread_.join();
  save_cache();
}

void Hasher::learned(const HashedFile& h) {
  // Counted here, and not set on the index: the upload sets it on the entry it publishes
  // once the file has its name, so a pass seldom takes it from learned_.
  learned_files_.add();
  if (cache_) cache_->put(h.stamp, h.manifest);
  {
    std::lock_guard lock(learned_mu_);
    learned_.push_back(h);
    if (learned_.size() > kMaxLearned) learned_.erase(learned_.begin());
  }
  // Persisted with the next pass (which also attaches it to an entry already listed), or
  // at stop.
  wake_.notify(true);
}

asio::awaitable<void> Hasher::run() {
  asio::steady_timer save_at(ctx_);
  std::optional<Clock::time_point> save_due;  // when the cache is saved next; none: not planned
  // (No co_await inside a condition: g++ 12 miscompiles it in a coroutine.)
  while (!stopping_) {
    bool more = true;
    while (more && !stopping_) more = co_await pass();
    if (stopping_) break;
    if (save_due && Clock::now() >= *save_due) {
      save_cache();
      save_due.reset();
    } else if (!save_due) {
      save_due = Clock::now() + kSaveDelay;
      save_at.expires_at(*save_due);
      // The handler only wakes this loop: it may run after the loop has ended and this
      // frame is gone (it was already queued when stop() woke the loop; cancelling does
      // not recall it), so it touches nothing of the frame. ASan caught one that did.
      save_at.async_wait([this](std::error_code ec) {
        if (!ec) wake_.notify(true);
      });
    }
    co_await wake_.wait();
  }
  // stop() saves the cache itself.
}

asio::awaitable<bool> Hasher::pass() {
  const auto snap = index_.snapshot();
  if (snap->unhashed == 0) co_return false;
  std::vector<HashedFile> ready;
  std::vector<const FileEntry*> to_read;
  size_t learned = 0;
  for (const auto& f : snap->files) {
    if (f.manifest) continue;
    if (auto m = take_learned(f.stamp())) {
      ready.push_back({f.name, f.stamp(), std::move(m)});
      ++learned;
      continue;
    }
    if (cache_) {
      if (auto m = cache_->find(f.stamp(), piece_size_)) {
        ready.push_back({f.name, f.stamp(), std::move(m)});
        continue;
      }
    }
    if (!failed_.contains({f.name, f.mtime_ns})) to_read.push_back(&f);
  }
  cached_.add(ready.size() - learned);
  index_.set_manifests(ready);
  const bool progress = !ready.empty() || !to_read.empty();
  ready.clear();
  auto last_publish = Clock::now();
  for (const FileEntry* f : to_read) {
    if (stopping_) break;
    if (auto h = co_await hash_one(*f)) {
      if (cache_) cache_->put(h->stamp, h->manifest);
      ready.push_back(std::move(*h));
    }
    if (ready.size() >= kBatchFiles || Clock::now() - last_publish >= kBatchEvery) {
      index_.set_manifests(ready);
      ready.clear();
      last_publish = Clock::now();
    }
  }
  index_.set_manifests(ready);
  if (cache_ && !stopping_) {
    std::vector<FileStamp> live;
    // Held in a name: a range-for over `snapshot()->files` would free the snapshot before
    // the loop (C++20 keeps only the last temporary alive) if the index had moved on; ASan
    // caught that in the bench's 10,000-file peer.
    const auto now = index_.snapshot();
    for (const auto& f : now->files) live.push_back(f.stamp());
    cache_->keep_only(live);
  }
  co_return progress && !stopping_;
}

asio::awaitable<std::optional<HashedFile>> Hasher::hash_one(const FileEntry& e) {
  auto file = folder_.open_read(e.name);
  struct stat st;
  // A file that changed since the index saw it is left to the watcher's next refresh.
  if (!file || ::fstat(file->fd.get(), &st) != 0 || !(stamp_of(st) == e.stamp())) {
    failed_.insert({e.name, e.mtime_ns});
    failures_.add();
    co_return std::nullopt;
  }
  asio::random_access_file reader(ctx_, file->fd.release());
  const auto start = Clock::now();
  auto m = co_await hash_file(reader, e.size, piece_size_, stopping_, &bytes_hashed_);
  hash_ns_.fetch_add(
      static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count()),
      std::memory_order_relaxed);
  if (!m.ok()) {
    if (!stopping_) {
      spdlog::warn("Hashing {} failed: {}", e.name, m.error().why);
      failed_.insert({e.name, e.mtime_ns});
      failures_.add();
    }
    co_return std::nullopt;
  }
  hashed_.add();
  spdlog::debug("Hashed {} ({} bytes) in {} ms: {}", e.name, e.size,
                std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count(),
                to_hex(m->sha256));
  co_return HashedFile{e.name, e.stamp(), std::make_shared<const Manifest>(std::move(*m))};
}

std::shared_ptr<const Manifest> Hasher::take_learned(const FileStamp& s) {
  std::lock_guard lock(learned_mu_);
  const auto it =
      std::find_if(learned_.begin(), learned_.end(), [&](const auto& h) { return h.stamp == s; });
  if (it == learned_.end()) return nullptr;
  auto m = std::move(it->manifest);
  learned_.erase(it);
  return m;
}

void Hasher::save_cache() {
  if (cache_ && !cache_->save())
    spdlog::warn(
        "Cannot write the hash cache {}: manifests will be computed again at the next start",
        cache_->file().string());
}

void Hasher::write_metrics(metrics::Exposition& e) const {
  e.family("p2p_hash_bytes_total", "counter",
           "Bytes read and hashed (SHA-256 of files and pieces).");
  e.sample("p2p_hash_bytes_total", {}, bytes_hashed_.load(std::memory_order_relaxed));
  e.family("p2p_hash_seconds_total", "counter",
           "Time spent reading and hashing files (wall clock, on the hasher's thread).");
  e.sample("p2p_hash_seconds_total", {},
           static_cast<double>(hash_ns_.load(std::memory_order_relaxed)) / 1e9);
  e.family(
      "p2p_hash_files_total", "counter",
      "Files whose manifest was found: hashed (read), cached (from the hash cache, unread), "
      "learned (handed over by the upload that stored it, unread), failed (unreadable or changed "
      "while read).");
  e.sample("p2p_hash_files_total", {{"outcome", "hashed"}}, hashed_.value());
  e.sample("p2p_hash_files_total", {{"outcome", "cached"}}, cached_.value());
  e.sample("p2p_hash_files_total", {{"outcome", "learned"}}, learned_files_.value());
  e.sample("p2p_hash_files_total", {{"outcome", "failed"}}, failures_.value());
  e.family("p2p_hash_pending_files", "gauge", "Shared files waiting to be hashed.");
  e.sample("p2p_hash_pending_files", {}, static_cast<uint64_t>(index_.snapshot()->unhashed));
}

}  // namespace p2p
