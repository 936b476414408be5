// DownloadResponse messages as a holder sends them: the parse must not depend on where gRPC
// cut the message into slices, and a chunk's views must lie inside the input.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "transfer/download_frame.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte chooses the slice length; the rest is the message.
  const size_t step = data[0] % 17 + 1;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string_view whole[] = {in};
  std::vector<std::string_view> sliced;
  for (size_t pos = 0; pos < in.size(); pos += step) sliced.push_back(in.substr(pos, step));
  p2p::DownloadFrame a, b;
  const bool ok_a = bool(p2p::parse_download_frame(whole, a));
  const bool ok_b = bool(p2p::parse_download_frame(sliced, b));
  if (ok_a != ok_b) __builtin_trap();
  if (!ok_a) return 0;
  std::string joined_a, joined_b;
  for (std::string_view v : a.chunk) joined_a += v;
  for (std::string_view v : b.chunk) {
    if (v.empty() || v.data() < in.data() || v.data() + v.size() > in.data() + in.size())
      __builtin_trap();
    joined_b += v;
  }
  if (joined_a != joined_b || a.total_size != b.total_size) __builtin_trap();
  return 0;
}
