#include "content/manifest.hpp"

#include <algorithm>
#include <stdexcept>

namespace p2p {

uint64_t Manifest::piece_length(uint64_t i) const {
  const uint64_t off = piece_offset(i);
  return off >= size ? 0 : std::min(piece_size, size - off);
}

bool Manifest::piece_matches(uint64_t i, std::string_view data) const {
  return i < pieces.size() && data.size() == piece_length(i) && sha256_of(data) == pieces[i];
}

ManifestBuilder::ManifestBuilder(uint64_t piece_size) : piece_size_(piece_size) {
  if (piece_size == 0) throw std::invalid_argument("piece_size must be positive");
}

ManifestBuilder::ManifestBuilder(uint64_t piece_size, PiecesOnly) : ManifestBuilder(piece_size) {
  digests_whole_ = false;
}

void ManifestBuilder::update(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  if (digests_whole_) whole_.update(p, n);
  size_ += n;
  while (n > 0) {
    const size_t take = static_cast<size_t>(std::min<uint64_t>(n, piece_size_ - in_piece_));
    piece_.update(p, take);
    p += take;
    n -= take;
    in_piece_ += take;
    if (in_piece_ == piece_size_) {
      pieces_.push_back(piece_.finish());
      in_piece_ = 0;
    }
  }
}

Manifest ManifestBuilder::finish() { return finish(whole_.finish()); }

Manifest ManifestBuilder::finish(const Sha256& whole) {
  if (in_piece_ > 0) {
    pieces_.push_back(piece_.finish());
    in_piece_ = 0;
  }
  Manifest m;
  m.size = size_;
  m.sha256 = whole;
  m.piece_size = piece_size_;
  m.pieces = std::move(pieces_);
  pieces_.clear();
  size_ = 0;
  return m;
}

}  // namespace p2p
