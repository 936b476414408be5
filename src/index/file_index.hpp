// FileIndex: the shared folder's regular files as an in-memory map, safe for concurrent
// readers. Writers (the folder watcher, a finished upload, the hasher) publish a new
// immutable snapshot; readers copy the current one's pointer (under a lock held for that
// alone) and never wait for a writer's work. An entry carries its manifest (sha256 and
// pieces) once the file is hashed; a change to the file (another stamp) drops it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "content/manifest.hpp"

namespace p2p {

struct FileEntry {
  std::string name;  // as on disk
  uint64_t size = 0;
  std::string uri;  // file:///abs/path, percent-encoded
  int64_t mtime_ns = 0;
  uint64_t dev = 0, ino = 0;
  std::shared_ptr<const Manifest> manifest;  // null until hashed

  FileStamp stamp() const { return {dev, ino, size, mtime_ns}; }
};

// A manifest computed for one version of a file.
struct HashedFile {
  std::string name;
  FileStamp stamp;
  std::shared_ptr<const Manifest> manifest;
};

struct IndexSnapshot {
  std::vector<FileEntry> files;                  // sorted by name
  std::unordered_map<std::string, size_t> keys;  // name_key -> position in files
  uint64_t total_bytes = 0;
  size_t unhashed = 0;  // entries without a manifest yet

  const FileEntry* find(std::string_view name) const;
  // The first entry whose content has this sha256, or null.
  const FileEntry* find_sha256(const Sha256& d) const;
};

class FileIndex {
 public:
  // `folder` must be absolute and canonical (Config gives it so).
  explicit FileIndex(std::filesystem::path folder);

  const std::filesystem::path& folder() const { return folder_; }

  // Reads the whole folder again; a new snapshot (and on_change) only when a file was
  // added, removed or changed. True when one was.
  bool rescan();

  // Re-reads the given names only (added, changed or gone).
  void refresh(const std::vector<std::string>& names);
  void refresh(const std::string& name) { refresh(std::vector<std::string>{name}); }

  std::shared_ptr<const IndexSnapshot> snapshot() const {
    std::lock_guard lock(current_mu_);
    return current_;
  }

  // Attaches manifests to the entries they were computed for; one whose file changed since
  // (another stamp) is ignored. One snapshot for the whole batch.
  void set_manifests(const std::vector<HashedFile>& hashed);

  // Called (on the writer's thread, after publishing) whenever entries were added or
  // changed: the hasher's wake-up. Set before any writer runs.
  void on_change(std::function<void()> fn) { on_change_ = std::move(fn); }

  // Lookup by name_key: trimmed, case-insensitive, exact.
  std::optional<FileEntry> find(std::string_view name) const;

 private:
  // The entry for `name` if it is a listable regular file of the folder.
  std::optional<FileEntry> stat_entry(const std::string& name) const;
  // Publishes `files`; `changed`: some entry is new or changed (not only removed or hashed).
  void publish(std::vector<FileEntry> files, bool changed);

  std::filesystem::path folder_;
  std::mutex writer_;
  // A plain mutex around the pointer, not std::atomic<std::shared_ptr>: libstdc++ 12's
  // lock bit is invisible to ThreadSanitizer, whose (suppressed) report of it ran inside
  // the writer's critical section while every reader spun, stalling REST for seconds.
  // Held only to copy or swap the pointer.
  mutable std::mutex current_mu_;
  std::shared_ptr<const IndexSnapshot> current_;
  std::function<void()> on_change_;
};

}  // namespace p2p
