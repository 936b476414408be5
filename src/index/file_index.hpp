// FileIndex: the shared folder's regular files as an in-memory map, safe for concurrent
// readers. Writers (the folder watcher, a finished upload) publish a new immutable
// snapshot; readers take the current one without blocking each other.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace p2p {

struct FileEntry {
  std::string name;  // as on disk
  uint64_t size = 0;
  std::string uri;  // file:///abs/path, percent-encoded
  int64_t mtime_ns = 0;
};

struct IndexSnapshot {
  std::vector<FileEntry> files;                  // sorted by name
  std::unordered_map<std::string, size_t> keys;  // name_key -> position in files
  uint64_t total_bytes = 0;

  const FileEntry* find(std::string_view name) const;
};

class FileIndex {
 public:
  // `folder` must be absolute and canonical (Config gives it so).
  explicit FileIndex(std::filesystem::path folder);

  const std::filesystem::path& folder() const { return folder_; }

  // Reads the whole folder again.
  void rescan();

  // Re-reads the given names only (added, changed or gone).
  void refresh(const std::vector<std::string>& names);
  void refresh(const std::string& name) { refresh(std::vector<std::string>{name}); }

  std::shared_ptr<const IndexSnapshot> snapshot() const { return current_.load(); }

  // Lookup by name_key: trimmed, case-insensitive, exact.
  std::optional<FileEntry> find(std::string_view name) const;

 private:
  // The entry for `name` if it is a listable regular file of the folder.
  std::optional<FileEntry> stat_entry(const std::string& name) const;
  void publish(std::vector<FileEntry> files);

  std::filesystem::path folder_;
  std::mutex writer_;
  std::atomic<std::shared_ptr<const IndexSnapshot>> current_;
};

}  // namespace p2p
