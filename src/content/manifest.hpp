// A file's identity and its pieces: the whole-file SHA-256 (what sha256sum prints) and the
// SHA-256 of each piece_size bytes, computed in one pass over the bytes.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "content/sha256.hpp"

namespace p2p {

// What identifies one version of a file without reading it.
struct FileStamp {
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

struct Manifest {
  uint64_t size = 0;
  Sha256 sha256{};
  uint64_t piece_size = 0;
  std::vector<Sha256> pieces;  // ceil(size / piece_size) digests; none for an empty file

  uint64_t piece_count() const { return pieces.size(); }
  // Offset and length of piece i (the last one may be short).
  uint64_t piece_offset(uint64_t i) const { return i * piece_size; }
  uint64_t piece_length(uint64_t i) const;
  // Whether `data` is piece i of this file.
  bool piece_matches(uint64_t i, std::string_view data) const;
};

inline uint64_t piece_count_for(uint64_t size, uint64_t piece_size) {
  return (size + piece_size - 1) / piece_size;
}

// Fed a file's bytes in order, in chunks of any size; finish() gives its manifest.
class ManifestBuilder {
 public:
  explicit ManifestBuilder(uint64_t piece_size);
  // The pieces only: the whole-file digest is computed elsewhere (on another core, say) and
  // handed to finish(whole); or, for content of one piece, taken to be that piece's.
  struct PiecesOnly {};
  ManifestBuilder(uint64_t piece_size, PiecesOnly);

  void update(const void* data, size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  uint64_t bytes() const { return size_; }
  // Content within one piece is hashed once: the whole file's digest is its piece's.
  // With PiecesOnly, finish() only for such content (std::logic_error otherwise).
  Manifest finish();
  Manifest finish(const Sha256& whole);

 private:
  void close_piece();
  uint64_t piece_size_;
  bool digests_whole_ = true;
  uint64_t size_ = 0;
  uint64_t in_piece_ = 0;    // bytes of the current piece fed so far
  bool past_first_ = false;  // the first piece is whole: whole_ carries on from its hasher
  Sha256Hasher whole_, piece_;
  std::vector<Sha256> pieces_;
};

}  // namespace p2p
