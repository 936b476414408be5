#include "content/hash_cache.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include "core/write_all.hpp"

namespace p2p {
namespace {

// "P2PHASH" + format version. Every field is little-endian; the file ends with the SHA-256
// of everything before it, so a torn or corrupted file is recognised and discarded.
constexpr char kMagic[8] = {'P', '2', 'P', 'H', 'A', 'S', 'H', '1'};

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}

struct Reader {
  std::string_view in;
  bool ok = true;
  uint64_t u64() {
    if (in.size() < 8) return ok = false, 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<uint8_t>(in[i])} << (8 * i);
    in.remove_prefix(8);
    return v;
  }
  Sha256 digest() {
    Sha256 d{};
    if (in.size() < d.size()) return ok = false, d;
    std::memcpy(d.data(), in.data(), d.size());
    in.remove_prefix(d.size());
    return d;
  }
};

}  // namespace

HashCache::HashCache(std::filesystem::path file) : file_(std::move(file)) {}

size_t HashCache::load() {
  std::ifstream f(file_, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::map<Key, Entry> read;
  Sha256 sum{};
  const bool framed = data.size() >= sizeof kMagic + sum.size() &&
                      std::memcmp(data.data(), kMagic, sizeof kMagic) == 0;
  if (framed) {
    const std::string_view body(data.data(), data.size() - sum.size());
    std::memcpy(sum.data(), data.data() + body.size(), sum.size());
    Reader r{body.substr(sizeof kMagic)};
    if (sha256_of(body) == sum) {
      const uint64_t n = r.u64();
      for (uint64_t i = 0; r.ok && i < n; ++i) {
        Entry e;
        e.stamp.dev = r.u64();
        e.stamp.ino = r.u64();
        e.stamp.size = r.u64();
        e.stamp.mtime_ns = static_cast<int64_t>(r.u64());
        auto m = std::make_shared<Manifest>();
        m->size = e.stamp.size;
        m->piece_size = r.u64();
        m->sha256 = r.digest();
        const uint64_t pieces = r.u64();
        if (!r.ok || m->piece_size == 0 || pieces != piece_count_for(m->size, m->piece_size) ||
            pieces > r.in.size() / 32) {
          r.ok = false;
          break;
        }
        m->pieces.reserve(pieces);
        for (uint64_t p = 0; p < pieces; ++p) m->pieces.push_back(r.digest());
        e.manifest = std::move(m);
        read[{e.stamp.dev, e.stamp.ino}] = std::move(e);
      }
      if (!r.ok || !r.in.empty()) read.clear();
    }
  }
  std::lock_guard lock(mu_);
  entries_ = std::move(read);
  // A file that was there but unreadable is rewritten at the next save.
  dirty_ = !data.empty() && entries_.empty();
  return entries_.size();
}

std::shared_ptr<const Manifest> HashCache::find(const FileStamp& s, uint64_t piece_size) const {
  std::lock_guard lock(mu_);
  const auto it = entries_.find({s.dev, s.ino});
  if (it == entries_.end() || !(it->second.stamp == s) ||
      it->second.manifest->piece_size != piece_size)
    return nullptr;
  return it->second.manifest;
}

void HashCache::put(const FileStamp& s, std::shared_ptr<const Manifest> m) {
  std::lock_guard lock(mu_);
  entries_[{s.dev, s.ino}] = Entry{s, std::move(m)};
  dirty_ = true;
}

void HashCache::keep_only(const std::vector<FileStamp>& live) {
  std::set<Key> keep;
  for (const auto& s : live) keep.insert({s.dev, s.ino});
  std::lock_guard lock(mu_);
  const size_t dropped =
      std::erase_if(entries_, [&](const auto& kv) { return !keep.contains(kv.first); });
  if (dropped > 0) dirty_ = true;
}

bool HashCache::save() {
  std::string out(kMagic, sizeof kMagic);
  {
    std::lock_guard lock(mu_);
    if (!dirty_) return true;
    put_u64(out, entries_.size());
    for (const auto& [key, e] : entries_) {
      put_u64(out, e.stamp.dev);
      put_u64(out, e.stamp.ino);
      put_u64(out, e.stamp.size);
      put_u64(out, static_cast<uint64_t>(e.stamp.mtime_ns));
      put_u64(out, e.manifest->piece_size);
      out.append(reinterpret_cast<const char*>(e.manifest->sha256.data()), 32);
      put_u64(out, e.manifest->pieces.size());
      for (const auto& p : e.manifest->pieces)
        out.append(reinterpret_cast<const char*>(p.data()), p.size());
    }
    dirty_ = false;
  }
  const Sha256 sum = sha256_of(out);
  out.append(reinterpret_cast<const char*>(sum.data()), sum.size());
  const std::string tmp = file_.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool ok = fd >= 0 && write_all(fd, out) && ::fsync(fd) == 0;
  if (fd >= 0) ok = ::close(fd) == 0 && ok;
  ok = ok && ::rename(tmp.c_str(), file_.c_str()) == 0;
  if (!ok) {
    ::unlink(tmp.c_str());
    std::lock_guard lock(mu_);
    dirty_ = true;
  }
  return ok;
}

size_t HashCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace p2p
