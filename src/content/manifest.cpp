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
  size_ += n;
  while (n > 0) {
    const size_t take = static_cast<size_t>(std::min<uint64_t>(n, piece_size_ - in_piece_));
    // The first piece's hasher has seen all the file so far: whole_ starts from it.
    if (digests_whole_ && past_first_) whole_.update(p, take);
    piece_.update(p, take);
    p += take;
    n -= take;
    in_piece_ += take;
    if (in_piece_ == piece_size_) {
      if (digests_whole_ && !past_first_) whole_.continue_from(piece_);
      past_first_ = true;
      close_piece();
    }
  }
}

Manifest ManifestBuilder::finish() {
  if (size_ == 0) return finish(piece_.finish());  // the digest of nothing; no pieces
  if (size_ <= piece_size_) {
    // One piece: its digest is the whole file's.
    if (in_piece_ > 0) close_piece();
    return finish(pieces_.front());
  }
  if (!digests_whole_)
    throw std::logic_error("ManifestBuilder: the whole-file digest of several pieces is needed");
  return finish(whole_.finish());
}

void ManifestBuilder::close_piece() {
  pieces_.push_back(piece_.finish());
  in_piece_ = 0;
}

Manifest ManifestBuilder::finish(const Sha256& whole) {
  if (in_piece_ > 0) close_piece();
  Manifest m;
  m.size = size_;
  m.sha256 = whole;
  m.piece_size = piece_size_;
  m.pieces = std::move(pieces_);
  pieces_.clear();
  size_ = 0;
  past_first_ = false;
  whole_.reset();
  return m;
}

}  // namespace p2p
