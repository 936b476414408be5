// DownloadResponse messages (proto/transfer.proto) as slices, both ways. The server writes the
// framing before a chunk it sends from its own buffer; the client reads messages straight from
// the slices gRPC received them in: the chunk comes out as views into those slices, so no byte
// of it is copied on the way to the sink. Knows no gRPC (slices are plain byte ranges), so it
// is tested and fuzzed on its own.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace p2p {

struct DownloadFrame {
  // The chunk's bytes in order, as views into the slices parsed (none empty); a chunk may
  // span several slices.
  std::vector<std::string_view> chunk;
  uint64_t total_size = 0;  // 0: absent (a sender that does not know, or a later message)

  uint64_t chunk_size() const;
};

// Parses one serialized DownloadResponse given as consecutive slices into `out` (cleared
// first; reused so a stream costs no allocation per message). As protobuf does: unknown
// fields of any wire type are skipped, a known field with another wire type counts as
// unknown, and a field given twice keeps its last value. A message that is not valid
// protobuf (a truncated varint or tag, a length past the end, an unmatched group, wire type
// 6 or 7, field number 0) is a Problem saying where.
Result<void> parse_download_frame(std::span<const std::string_view> slices, DownloadFrame& out);

// The framing of a DownloadResponse whose chunk of `chunk_size` bytes follows it on the wire:
// total_size (field 2, varint; left out when 0, as protobuf does), then the chunk's tag
// (field 1, bytes) and length, into `out`; its length. Parsers take the fields in any order,
// so the chunk can come last, as its own slice.
size_t download_frame_header(uint64_t chunk_size, uint64_t total_size,
                             std::array<uint8_t, 22>& out);

}  // namespace p2p
