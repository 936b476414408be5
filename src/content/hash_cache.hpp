// The manifests of a peer's files, kept across restarts in one file under state_dir (never
// inside the share). An entry is valid while the file keeps its device, inode, size and
// mtime (nanoseconds): a restart over unchanged files reads none of them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include "content/manifest.hpp"

namespace p2p {

class HashCache {
 public:
  // `file`: where the cache lives (state_dir/hashes). Nothing is read until load().
  explicit HashCache(std::filesystem::path file);

  // Reads the file; a missing file is an empty cache, and so is one that is truncated,
  // corrupt or of another format version (it is rewritten at the next save). Returns the
  // number of entries read.
  size_t load();

  // The manifest for this version of a file with this piece size, or null.
  std::shared_ptr<const Manifest> find(const FileStamp& s, uint64_t piece_size) const;
  void put(const FileStamp& s, std::shared_ptr<const Manifest> m);
  // Drops every entry whose (dev, ino) is not in `live` (files gone from the share).
  void keep_only(const std::vector<FileStamp>& live);

  // Writes the cache if it changed since the last load or save: a temporary beside it,
  // fsync, rename. False when it could not be written (the cache then stays in memory).
  bool save();

  size_t size() const;
  const std::filesystem::path& file() const { return file_; }

 private:
  using Key = std::pair<uint64_t, uint64_t>;  // dev, ino
  struct Entry {
    FileStamp stamp;
    std::shared_ptr<const Manifest> manifest;
  };
  std::filesystem::path file_;
  mutable std::mutex mu_;
  std::map<Key, Entry> entries_;
  bool dirty_ = false;
};

}  // namespace p2p
