// Keeps every shared file's manifest current, in the background: at start the hash cache
// gives the manifests of unchanged files without reading them; files that are new or
// changed are read (io_uring) and hashed on the hasher's own thread, so neither REST nor
// transfers ever wait for it. A file not hashed yet is listed and served without hashes.
#pragma once

#include <asio/io_context.hpp>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "content/hash_cache.hpp"
#include "core/metrics.hpp"
#include "index/file_index.hpp"
#include "io/op_signal.hpp"
#include "io/shared_folder.hpp"

namespace p2p {

class Hasher {
 public:
  // `cache_file`: where manifests persist (state_dir); none: in memory only.
  Hasher(FileIndex& index, const SharedFolder& folder,
         std::optional<std::filesystem::path> cache_file, uint64_t piece_size);
  ~Hasher();

  // Loads the cache and starts the hasher's thread; it hashes what the index lists and
  // wakes whenever the index changes (FileIndex::on_change).
  void start();
  // Stops between two blocks, saves the cache, joins the thread. Idempotent.
  void stop();

  // A manifest computed elsewhere for one version of a file (an upload hashes what it
  // receives, and tells it before the file appears under its name): kept in the cache, and
  // attached by the next pass to an index entry of that version that has none (one the
  // watcher listed before the upload set it). Safe from any thread.
  void learned(const HashedFile& h);

  uint64_t piece_size() const { return piece_size_; }

  // p2p_hash_bytes_total, p2p_hash_seconds_total, p2p_hash_files_total{outcome},
  // p2p_hash_pending_files.
  void write_metrics(metrics::Exposition& e) const;

 private:
  asio::awaitable<void> run();
  // Hashes what the index lists without a manifest; false when nothing could be done.
  asio::awaitable<bool> pass();
  asio::awaitable<std::optional<HashedFile>> hash_one(const FileEntry& e);
  // The manifest learned() was told for this version of a file, if any (taken: once).
  std::shared_ptr<const Manifest> take_learned(const FileStamp& s);
  void save_cache();

  FileIndex& index_;
  const SharedFolder& folder_;
  std::optional<HashCache> cache_;
  const uint64_t piece_size_;
  asio::io_context ctx_;
  OpSignal wake_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::set<std::pair<std::string, int64_t>> failed_;  // (name, mtime): not retried until changed
  std::mutex learned_mu_;
  std::vector<HashedFile> learned_;  // told, not yet in the index; the newest few
  std::atomic<uint64_t> bytes_hashed_{0};
  std::atomic<uint64_t> hash_ns_{0};
  metrics::Counter hashed_, cached_, learned_files_, failures_;
};

}  // namespace p2p
