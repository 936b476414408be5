// parse_download_frame: valid messages split into slices at random, every kind of unknown
// field, and malformed bytes of every sort; where protobuf itself decides, it is the judge.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "transfer.pb.h"
#include "transfer/download_frame.hpp"

using namespace p2p;

namespace {

std::string varint(uint64_t v) {
  std::string out;
  do {
    const auto b = static_cast<uint8_t>(v & 0x7f);
    v >>= 7;
    out += static_cast<char>(v ? b | 0x80 : b);
  } while (v);
  return out;
}

std::string tag(uint32_t field, uint32_t wire_type) {
  return varint(uint64_t{field} << 3 | wire_type);
}

// `bytes` cut at random places into slices (some empty).
std::vector<std::string_view> split(std::string_view bytes, std::mt19937& rng) {
  std::vector<std::string_view> slices;
  while (!bytes.empty()) {
    const size_t limit = rng() % 4 == 0 ? 3 : bytes.size();
    const size_t n = std::uniform_int_distribution<size_t>(0, std::min(limit, bytes.size()))(rng);
    slices.push_back(bytes.substr(0, n));
    bytes.remove_prefix(n);
  }
  if (rng() % 2) slices.push_back({});
  return slices;
}

std::string joined(const DownloadFrame& f) {
  std::string out;
  for (std::string_view s : f.chunk) out += s;
  return out;
}

Result<void> parse(std::string_view bytes, DownloadFrame& f) {
  const std::string_view one[] = {bytes};
  return parse_download_frame(one, f);
}

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

bool fails(std::string_view bytes) {
  DownloadFrame f;
  return !parse(bytes, f);
}

}  // namespace

TEST_CASE("a valid message in random slices yields its chunk as views into them") {
  std::mt19937 rng(13);
  for (int round = 0; round < 2000; ++round) {
    transfer::DownloadResponse msg;
    const size_t size = round % 10 == 0 ? 65536 + rng() % 70000 : rng() % 300;
    std::string chunk(size, '\0');
    for (char& c : chunk) c = static_cast<char>(rng());
    msg.set_chunk(chunk);
    const uint64_t totals[] = {0, 1, size, uint64_t{1} << 40, UINT64_MAX};
    msg.set_total_size(totals[rng() % 5]);
    const std::string bytes = msg.SerializeAsString();
    const auto slices = split(bytes, rng);
    DownloadFrame f;
    f.chunk.push_back("left over from the last message");
    REQUIRE(parse_download_frame(slices, f));
    CHECK(joined(f) == chunk);
    CHECK(f.chunk_size() == size);
    CHECK(f.total_size == msg.total_size());
    for (std::string_view v : f.chunk) {
      CHECK(!v.empty());
      // No copy: every view lies inside the serialized bytes.
      CHECK(v.data() >= bytes.data());
      CHECK(v.data() + v.size() <= bytes.data() + bytes.size());
    }
  }
}

TEST_CASE("empty messages and absent fields") {
  DownloadFrame f;
  CHECK(parse_download_frame({}, f));
  CHECK(f.chunk.empty());
  CHECK(f.total_size == 0);
  REQUIRE(parse(tag(2, 0) + varint(UINT64_MAX), f));
  CHECK(f.chunk.empty());
  CHECK(f.total_size == UINT64_MAX);
  REQUIRE(parse(tag(1, 2) + varint(0), f));
  CHECK(f.chunk.empty());
  // The views point into the bytes parsed: they must outlive the check.
  const std::string abc = tag(1, 2) + varint(3) + "abc";
  REQUIRE(parse(abc, f));
  CHECK(joined(f) == "abc");
  CHECK(f.total_size == 0);
}

TEST_CASE("unknown fields of every wire type are skipped, wherever they are") {
  const std::string unknown[] = {
      tag(3, 0) + varint(UINT64_MAX),
      tag(4, 1) + std::string(8, '\xff'),
      tag(5, 2) + varint(4) + "\x0a\x02xy",  // looks like a chunk inside: it is not one
      tag(6, 3) + tag(1, 2) + varint(1) + "z" + tag(7, 3) + tag(7, 4) + tag(6, 4),
      tag(8, 5) + std::string(4, '\x01'),
      tag(1, 0) + varint(7),          // the chunk's number with another wire type
      tag(2, 2) + varint(2) + "no",   // total_size's number, ditto
      tag(536870911, 0) + varint(1),  // the largest field number
      tag(1000, 2) + varint(0),
  };
  std::mt19937 rng(7);
  for (int round = 0; round < 500; ++round) {
    std::string bytes;
    for (int k = rng() % 4; k > 0; --k) bytes += unknown[rng() % std::size(unknown)];
    bytes += tag(1, 2) + varint(5) + "hello";
    for (int k = rng() % 4; k > 0; --k) bytes += unknown[rng() % std::size(unknown)];
    bytes += tag(2, 0) + varint(12345);
    for (int k = rng() % 4; k > 0; --k) bytes += unknown[rng() % std::size(unknown)];
    const auto slices = split(bytes, rng);
    DownloadFrame f;
    REQUIRE(parse_download_frame(slices, f));
    CHECK(joined(f) == "hello");
    CHECK(f.total_size == 12345);
    transfer::DownloadResponse msg;
    REQUIRE(msg.ParseFromString(bytes));
    CHECK(msg.chunk() == "hello");
  }
}

TEST_CASE("a field given twice keeps its last value, as protobuf's own parser does") {
  DownloadFrame f;
  const std::string bytes = tag(1, 2) + varint(3) + "old" + tag(2, 0) + varint(9) + tag(1, 2) +
                            varint(3) + "new" + tag(2, 0) + varint(10);
  REQUIRE(parse(bytes, f));
  CHECK(joined(f) == "new");
  CHECK(f.total_size == 10);
  transfer::DownloadResponse msg;
  REQUIRE(msg.ParseFromString(bytes));
  CHECK(msg.chunk() == "new");
  CHECK(msg.total_size() == 10);
}

TEST_CASE("truncated varints and tags") {
  CHECK(fails("\x80"));                                        // a tag cut short
  CHECK(fails(tag(2, 0)));                                     // a field without its value
  CHECK(fails(tag(2, 0) + "\xff\xff"));                        // a value cut short
  CHECK(fails(tag(1, 2)));                                     // a chunk without its length
  CHECK(fails(tag(1, 2) + "\x80"));                            // a length cut short
  CHECK(fails(tag(2, 0) + std::string(10, '\xff') + "\x01"));  // 11 bytes
  CHECK(fails(tag(2, 0) + std::string(9, '\xff') + "\x02"));   // past 64 bits
  CHECK(fails(std::string(5, '\xff') + "\x0f"));               // a tag past 32 bits
  CHECK(fails(tag(4, 1) + "1234567"));                         // fixed64 cut short
  CHECK(fails(tag(8, 5) + "123"));                             // fixed32 cut short
  // Every proper prefix of a message that ends inside a field is malformed.
  const std::string whole =
      tag(1, 2) + varint(300) + std::string(300, 'x') + tag(2, 0) + varint(UINT64_MAX);
  const size_t chunk_end = 1 + 2 + 300;
  for (size_t cut = 1; cut < whole.size(); ++cut) {
    INFO("cut at " << cut);
    CHECK(fails(std::string_view(whole).substr(0, cut)) == (cut != chunk_end));
  }
}

TEST_CASE("lengths past the end") {
  CHECK(fails(tag(1, 2) + varint(5) + "abc"));
  CHECK(fails(tag(1, 2) + varint(UINT64_MAX)));
  CHECK(fails(tag(1, 2) + varint(uint64_t{1} << 40) + "abc"));
  CHECK(fails(tag(9, 2) + varint(2) + "a"));
  DownloadFrame f;
  const auto r = parse(tag(1, 2) + varint(5) + "abc", f);
  REQUIRE(!r);
  CHECK(r.error().why.find("past the end") != std::string::npos);
}

TEST_CASE("invalid wire types, field 0 and broken groups") {
  CHECK(fails(tag(3, 6) + "x"));
  CHECK(fails(tag(3, 7) + "x"));
  CHECK(fails(std::string(1, '\0')));               // field number 0
  CHECK(fails(varint(0 << 3 | 2) + varint(0)));     // ditto, as a length-delimited one
  CHECK(fails(tag(5, 4)));                          // an end with no start
  CHECK(fails(tag(5, 3)));                          // a start with no end
  CHECK(fails(tag(5, 3) + tag(6, 4)));              // the wrong end
  CHECK(fails(tag(5, 3) + tag(6, 3) + tag(5, 4)));  // closed out of order
  CHECK(fails(tag(5, 3) + tag(1, 2) + varint(9) + "x" + tag(5, 4)));  // inner length too long
  std::string deep;
  for (int i = 0; i < 200; ++i) deep += tag(5, 3);
  for (int i = 0; i < 200; ++i) deep += tag(5, 4);
  CHECK(fails(deep));
  std::string nested;
  for (int i = 0; i < 50; ++i) nested += tag(5, 3);
  for (int i = 0; i < 50; ++i) nested += tag(5, 4);
  CHECK(!fails(nested + tag(1, 2) + varint(1) + "k"));
}

TEST_CASE("random bytes: accepted exactly when protobuf accepts them, with the same fields") {
  std::mt19937 rng(2026);
  int accepted = 0;
  for (int round = 0; round < 200000; ++round) {
    std::string bytes(rng() % 24, '\0');
    // Small field numbers and wire types make valid messages common enough to compare.
    for (char& c : bytes) c = static_cast<char>(rng() % 3 == 0 ? rng() : rng() % 0x30);
    // Varints of 5+ bytes: protobuf tolerates some overlong forms this parser refuses.
    size_t run = 0, longest = 0;
    for (char c : bytes) longest = std::max(longest, run = (c & 0x80) ? run + 1 : 0);
    if (longest >= 4) continue;
    const auto slices = split(bytes, rng);
    DownloadFrame f;
    const bool ours = bool(parse_download_frame(slices, f));
    transfer::DownloadResponse msg;
    const bool theirs = msg.ParseFromString(bytes);
    INFO("bytes: " << hex(bytes));
    REQUIRE(ours == theirs);
    if (ours) {
      ++accepted;
      CHECK(joined(f) == msg.chunk());
      CHECK(f.total_size == msg.total_size());
    }
  }
  CHECK(accepted > 1000);
}

TEST_CASE("the server's framing, with the chunk as a slice of its own, is what protobuf reads") {
  for (const uint64_t total :
       {uint64_t{0}, uint64_t{1}, uint64_t{127}, uint64_t{128}, uint64_t{1} << 40, ~uint64_t{0}}) {
    for (const size_t size : {size_t{0}, size_t{1}, size_t{127}, size_t{128}, size_t{65536}}) {
      const std::string chunk(size, 'k');
      std::array<uint8_t, 22> header;
      const size_t n = download_frame_header(size, total, header);
      const std::string_view head(reinterpret_cast<const char*>(header.data()), n);
      transfer::DownloadResponse parsed;
      REQUIRE(parsed.ParseFromString(std::string(head) + chunk));
      CHECK(parsed.chunk() == chunk);
      CHECK(parsed.total_size() == total);
      const std::string_view slices[] = {head, chunk};
      DownloadFrame ours;
      REQUIRE(parse_download_frame(slices, ours));
      CHECK(ours.chunk_size() == size);
      CHECK(ours.total_size == total);
    }
  }
}
