#include "index/file_index.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "core/names.hpp"
#include "core/uri.hpp"

namespace p2p {

const FileEntry* IndexSnapshot::find(std::string_view name) const {
  const auto it = keys.find(name_key(name));
  return it == keys.end() ? nullptr : &files[it->second];
}

const FileEntry* IndexSnapshot::find_sha256(const Sha256& d) const {
  for (const auto& f : files)
    if (f.manifest && f.manifest->sha256 == d) return &f;
  return nullptr;
}

namespace {

// The snapshot's order.
bool name_order(const FileEntry& a, const FileEntry& b) { return a.name < b.name; }

}  // namespace

FileIndex::FileIndex(std::filesystem::path folder) : folder_(std::move(folder)) {
  current_ = std::make_shared<const IndexSnapshot>();
}

std::optional<FileEntry> FileIndex::stat_entry(const std::string& name) const {
  if (!admit_name(name, NameUse::listed)) return std::nullopt;
  struct stat st;
  const std::string path = (folder_ / name).string();
  // lstat: a symlink is never listed, whatever it points at.
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  FileEntry e;
  e.name = name;
  e.size = static_cast<uint64_t>(st.st_size);
  e.uri = file_uri(path);
  e.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  e.dev = static_cast<uint64_t>(st.st_dev);
  e.ino = static_cast<uint64_t>(st.st_ino);
  return e;
}

bool FileIndex::rescan() {
  std::vector<FileEntry> files;
  if (DIR* dir = ::opendir(folder_.c_str())) {
    while (const dirent* d = ::readdir(dir)) {
      if (d->d_type != DT_REG && d->d_type != DT_UNKNOWN) continue;
      if (auto e = stat_entry(d->d_name)) files.push_back(std::move(*e));
    }
    ::closedir(dir);
  }
  std::sort(files.begin(), files.end(), name_order);
  std::lock_guard lock(writer_);
  const auto old = snapshot();
  // A periodic rescan (no inotify) of an unchanged folder publishes nothing.
  if (std::equal(files.begin(), files.end(), old->files.begin(), old->files.end(),
                 [](const FileEntry& a, const FileEntry& b) {
                   return a.name == b.name && a.stamp() == b.stamp();
                 }))
    return false;
  for (auto& f : files)
    if (const FileEntry* was = old->find(f.name); was && was->stamp() == f.stamp())
      f.manifest = was->manifest;
  publish(std::move(files), true);
  return true;
}

void FileIndex::refresh(const std::vector<std::string>& names) {
  std::lock_guard lock(writer_);
  const auto old = snapshot();
  std::map<std::string, std::optional<FileEntry>> changes;
  for (const auto& n : names) changes.emplace(n, std::nullopt);
  for (auto& [n, e] : changes) e = stat_entry(n);

  std::vector<FileEntry> files;
  files.reserve(old->files.size() + changes.size());
  for (const auto& f : old->files)
    if (!changes.contains(f.name)) files.push_back(f);
  bool changed = false;
  for (auto& [n, e] : changes) {
    if (!e) continue;
    // An unchanged file (same stamp) keeps its manifest.
    const FileEntry* was = old->find(n);
    if (was && was->name == n && was->stamp() == e->stamp())
      e->manifest = was->manifest;
    else
      changed = true;
    files.push_back(std::move(*e));
  }
  publish(std::move(files), changed);
}

void FileIndex::set_manifests(const std::vector<HashedFile>& hashed) {
  if (hashed.empty()) return;
  std::lock_guard lock(writer_);
  std::vector<FileEntry> files = snapshot()->files;
  std::unordered_map<std::string_view, const HashedFile*> by_name;
  for (const auto& h : hashed) by_name[h.name] = &h;
  for (auto& f : files)
    if (const auto it = by_name.find(f.name); it != by_name.end() && it->second->stamp == f.stamp())
      f.manifest = it->second->manifest;
  publish(std::move(files), false);
}

void FileIndex::publish(std::vector<FileEntry> files, bool changed) {
  auto snap = std::make_shared<IndexSnapshot>();
  std::sort(files.begin(), files.end(), name_order);
  snap->files = std::move(files);
  snap->keys.reserve(snap->files.size());
  for (size_t i = 0; i < snap->files.size(); ++i) {
    // Two names equal but for case: the first in byte order wins, the same on every call.
    snap->keys.emplace(name_key(snap->files[i].name), i);
    snap->total_bytes += snap->files[i].size;
    if (!snap->files[i].manifest) ++snap->unhashed;
  }
  std::shared_ptr<const IndexSnapshot> old = std::move(snap);
  {
    std::lock_guard lock(current_mu_);
    current_.swap(old);
  }
  old.reset();  // the previous snapshot, if no reader holds it, freed outside the lock
  if (changed && on_change_) on_change_();
}

std::optional<FileEntry> FileIndex::find(std::string_view name) const {
  const auto snap = snapshot();
  if (const FileEntry* e = snap->find(name)) return *e;
  return std::nullopt;
}

}  // namespace p2p
