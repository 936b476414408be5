#include "transfer/download_frame.hpp"

#include <string>

namespace p2p {
namespace {

enum WireType : uint32_t {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kStartGroup = 3,
  kEndGroup = 4,
  kFixed32 = 5,
};
constexpr uint32_t kChunkField = 1, kTotalSizeField = 2;
// protobuf's own default recursion limit: an unknown group nests no deeper than a message.
constexpr int kMaxGroupDepth = 100;

// A read position in a sequence of slices; reads never run past the last byte.
class SliceReader {
 public:
  explicit SliceReader(std::span<const std::string_view> slices) : slices_(slices) {
    for (std::string_view s : slices) remaining_ += s.size();
    skip_empty();
  }

  uint64_t position() const { return position_; }
  bool at_end() const { return remaining_ == 0; }

  // A base-128 varint of at most 10 bytes whose value fits 64 bits.
  Result<uint64_t> varint() {
    uint64_t value = 0;
    for (int i = 0; i < 10; ++i) {
      if (at_end()) return problem("truncated varint");
      const auto b = static_cast<uint8_t>(slices_[slice_][offset_]);
      advance(1);
      if (i == 9 && b > 1) return problem("varint overflows 64 bits");
      value |= uint64_t{b & 0x7fu} << (7 * i);
      if ((b & 0x80) == 0) return value;
    }
    return problem("varint longer than 10 bytes");
  }

  // Skips n bytes, adding views of them to `out` if given.
  Result<void> take(uint64_t n, std::vector<std::string_view>* out) {
    if (n > remaining_)
      return problem("length " + std::to_string(n) + " runs past the end (" +
                     std::to_string(remaining_) + " bytes left)");
    while (n > 0) {
      const std::string_view s = slices_[slice_].substr(offset_);
      const size_t step = n < s.size() ? static_cast<size_t>(n) : s.size();
      if (out) out->push_back(s.substr(0, step));
      advance(step);
      n -= step;
    }
    return {};
  }

  Problem problem(const std::string& what) const {
    return {"malformed DownloadResponse at byte " + std::to_string(position_) + ": " + what};
  }

 private:
  void advance(size_t n) {
    offset_ += n;
    position_ += n;
    remaining_ -= n;
    skip_empty();
  }
  void skip_empty() {
    while (slice_ < slices_.size() && offset_ == slices_[slice_].size()) {
      ++slice_;
      offset_ = 0;
    }
  }

  std::span<const std::string_view> slices_;
  size_t slice_ = 0, offset_ = 0;
  uint64_t position_ = 0, remaining_ = 0;
};

struct Tag {
  uint32_t field;
  uint32_t wire_type;
};

Result<Tag> read_tag(SliceReader& r) {
  const auto v = r.varint();
  if (!v) return v.error();
  if (*v > UINT32_MAX) return r.problem("tag does not fit 32 bits");
  const Tag t{static_cast<uint32_t>(*v >> 3), static_cast<uint32_t>(*v & 7)};
  if (t.field == 0) return r.problem("field number 0");
  return t;
}

// Skips the value of a field this parser does not use (a group: up to its matching end).
Result<void> skip_value(SliceReader& r, Tag tag, int depth) {
  switch (tag.wire_type) {
    case kVarint:
      if (auto v = r.varint(); !v) return v.error();
      return {};
    case kFixed64:
      return r.take(8, nullptr);
    case kFixed32:
      return r.take(4, nullptr);
    case kLengthDelimited: {
      const auto n = r.varint();
      if (!n) return n.error();
      return r.take(*n, nullptr);
    }
    case kStartGroup:
      if (depth >= kMaxGroupDepth) return r.problem("groups nested too deep");
      for (;;) {
        if (r.at_end()) return r.problem("group " + std::to_string(tag.field) + " not closed");
        const auto inner = read_tag(r);
        if (!inner) return inner.error();
        if (inner->wire_type == kEndGroup) {
          if (inner->field != tag.field) return r.problem("end of a group that is not open");
          return {};
        }
        if (auto skipped = skip_value(r, *inner, depth + 1); !skipped) return skipped;
      }
    case kEndGroup:
      return r.problem("end of a group that is not open");
    default:
      return r.problem("wire type " + std::to_string(tag.wire_type));
  }
}

}  // namespace

uint64_t DownloadFrame::chunk_size() const {
  uint64_t n = 0;
  for (std::string_view s : chunk) n += s.size();
  return n;
}

Result<void> parse_download_frame(std::span<const std::string_view> slices, DownloadFrame& out) {
  out.chunk.clear();
  out.total_size = 0;
  SliceReader r(slices);
  while (!r.at_end()) {
    const auto tag = read_tag(r);
    if (!tag) return tag.error();
    if (tag->field == kChunkField && tag->wire_type == kLengthDelimited) {
      const auto n = r.varint();
      if (!n) return n.error();
      out.chunk.clear();  // a singular field given twice: the last one counts
      if (auto taken = r.take(*n, &out.chunk); !taken) return taken;
    } else if (tag->field == kTotalSizeField && tag->wire_type == kVarint) {
      const auto v = r.varint();
      if (!v) return v.error();
      out.total_size = *v;
    } else if (auto skipped = skip_value(r, *tag, 0); !skipped) {
      return skipped;
    }
  }
  return {};
}

size_t download_frame_header(uint64_t chunk_size, uint64_t total_size,
                             std::array<uint8_t, 22>& out) {
  size_t n = 0;
  const auto varint = [&](uint64_t v) {
    for (; v >= 0x80; v >>= 7) out[n++] = static_cast<uint8_t>(v | 0x80);
    out[n++] = static_cast<uint8_t>(v);
  };
  if (total_size != 0) {
    out[n++] = 0x10;
    varint(total_size);
  }
  out[n++] = 0x0a;
  varint(chunk_size);
  return n;
}

}  // namespace p2p
