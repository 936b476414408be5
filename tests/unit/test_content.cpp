#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "content/hash_cache.hpp"
#include "content/manifest.hpp"
#include "content/sha256.hpp"
#include "temp_dir.hpp"

using namespace p2p;
using p2p::testing::TempDir;

namespace {

std::string bytes_of(size_t n) {
  std::string s(n, '\0');
  uint32_t x = 2463534242u;
  for (auto& c : s) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    c = static_cast<char>(x);
  }
  return s;
}

}  // namespace

TEST_CASE("SHA-256 of known inputs, as sha256sum prints them") {
  CHECK(to_hex(sha256_of("")) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(to_hex(sha256_of("abc")) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("hex round trip; anything but 64 hex digits is refused") {
  const Sha256 d = sha256_of("abc");
  CHECK(sha256_from_hex(to_hex(d)) == d);
  std::string upper = to_hex(d);
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CHECK(sha256_from_hex(upper) == d);
  CHECK_FALSE(sha256_from_hex(""));
  CHECK_FALSE(sha256_from_hex(to_hex(d).substr(1)));
  CHECK_FALSE(sha256_from_hex(to_hex(d) + "0"));
  CHECK_FALSE(sha256_from_hex(std::string(63, '0') + "g"));
}

TEST_CASE("a hasher starts over after finish") {
  Sha256Hasher h;
  h.update("ab");
  h.update("c");
  CHECK(h.finish() == sha256_of("abc"));
  h.update("abc");
  CHECK(h.finish() == sha256_of("abc"));
}

TEST_CASE("manifest: whole digest and pieces at every edge, in any chunking") {
  constexpr uint64_t piece = 4096;
  for (uint64_t size : {uint64_t{0}, uint64_t{1}, piece - 1, piece, piece + 1, 10 * piece + 7}) {
    CAPTURE(size);
    const std::string data = bytes_of(size);
    for (size_t chunk : {size_t{1000}, size_t{4096}, size_t{65536}}) {
      CAPTURE(chunk);
      ManifestBuilder b(piece);
      for (size_t off = 0; off < data.size(); off += chunk)
        b.update(std::string_view(data).substr(off, chunk));
      const Manifest m = b.finish();
      CHECK(m.size == size);
      CHECK(m.sha256 == sha256_of(data));
      CHECK(m.piece_size == piece);
      REQUIRE(m.piece_count() == piece_count_for(size, piece));
      uint64_t covered = 0;
      for (uint64_t i = 0; i < m.piece_count(); ++i) {
        const auto slice = std::string_view(data).substr(m.piece_offset(i), m.piece_length(i));
        CHECK(m.pieces[i] == sha256_of(slice));
        CHECK(m.piece_matches(i, slice));
        covered += slice.size();
      }
      CHECK(covered == size);
    }
  }
}

TEST_CASE("manifest, pieces only: one piece needs no whole-file digest, several do") {
  constexpr uint64_t piece = 4096;
  for (uint64_t size : {uint64_t{0}, uint64_t{1}, piece}) {
    CAPTURE(size);
    const std::string data = bytes_of(size);
    ManifestBuilder b(piece, ManifestBuilder::PiecesOnly{});
    b.update(data);
    const Manifest m = b.finish();
    CHECK(m.sha256 == sha256_of(data));
    CHECK(m.piece_count() == piece_count_for(size, piece));
  }
  ManifestBuilder b(piece, ManifestBuilder::PiecesOnly{});
  b.update(bytes_of(piece + 1));
  CHECK_THROWS_AS(b.finish(), std::logic_error);
}

TEST_CASE("manifest: a builder used again starts from nothing") {
  constexpr uint64_t piece = 4096;
  ManifestBuilder b(piece);
  b.update(bytes_of(piece));
  (void)b.finish();
  const std::string next = bytes_of(3 * piece + 1);
  b.update(next);
  const Manifest m = b.finish();
  CHECK(m.sha256 == sha256_of(next));
  CHECK(m.piece_count() == 4);
}

TEST_CASE("a piece that differs in one bit, or in length, does not match") {
  const std::string data = bytes_of(3 * 1024 + 5);
  ManifestBuilder b(1024);
  b.update(data);
  const Manifest m = b.finish();
  std::string bad = data.substr(1024, 1024);
  bad[17] ^= 1;
  CHECK_FALSE(m.piece_matches(1, bad));
  CHECK_FALSE(m.piece_matches(3, data.substr(3072, 4)));
  CHECK(m.piece_matches(3, data.substr(3072)));
  CHECK_FALSE(m.piece_matches(4, ""));
}

namespace {

std::shared_ptr<const Manifest> manifest_of(const std::string& data, uint64_t piece) {
  ManifestBuilder b(piece);
  b.update(data);
  return std::make_shared<const Manifest>(b.finish());
}

}  // namespace

TEST_CASE("hash cache: entries survive a save and a load, and only for the same stamp") {
  TempDir dir;
  const auto file = dir.path / "hashes";
  const FileStamp a{1, 100, 5000, 123456789};
  const FileStamp b{1, 101, 0, 42};
  {
    HashCache c(file);
    CHECK(c.load() == 0);
    c.put(a, manifest_of(bytes_of(5000), 1024));
    c.put(b, manifest_of("", 1024));
    REQUIRE(c.save());
  }
  HashCache c(file);
  REQUIRE(c.load() == 2);
  const auto m = c.find(a, 1024);
  REQUIRE(m);
  CHECK(m->sha256 == sha256_of(bytes_of(5000)));
  CHECK(m->pieces.size() == 5);
  CHECK(m->pieces[4] == sha256_of(bytes_of(5000).substr(4096)));
  REQUIRE(c.find(b, 1024));
  CHECK(c.find(b, 1024)->pieces.empty());
  // Another mtime, size, inode or piece size is another version: not in the cache.
  CHECK_FALSE(c.find(FileStamp{1, 100, 5000, 123456790}, 1024));
  CHECK_FALSE(c.find(FileStamp{1, 100, 5001, 123456789}, 1024));
  CHECK_FALSE(c.find(FileStamp{1, 102, 5000, 123456789}, 1024));
  CHECK_FALSE(c.find(a, 2048));
}

TEST_CASE("hash cache: a corrupted or truncated file is an empty cache, rewritten at save") {
  TempDir dir;
  const auto file = dir.path / "hashes";
  {
    HashCache c(file);
    c.put(FileStamp{1, 7, 3, 9}, manifest_of("abc", 1024));
    REQUIRE(c.save());
  }
  const auto size = std::filesystem::file_size(file);
  for (const bool truncate : {false, true}) {
    CAPTURE(truncate);
    {
      std::filesystem::remove(file);
      HashCache c(file);
      c.put(FileStamp{1, 7, 3, 9}, manifest_of("abc", 1024));
      REQUIRE(c.save());
      REQUIRE(HashCache(file).load() == 1);
    }
    if (truncate) {
      std::filesystem::resize_file(file, size - 1);
    } else {
      std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(20);
      f.put('\x7f');
    }
    HashCache c(file);
    CHECK(c.load() == 0);
    CHECK_FALSE(c.find(FileStamp{1, 7, 3, 9}, 1024));
  }
}

TEST_CASE("hash cache: keep_only drops files that are gone") {
  TempDir dir;
  HashCache c(dir.path / "hashes");
  c.put(FileStamp{1, 1, 3, 1}, manifest_of("abc", 1024));
  c.put(FileStamp{1, 2, 3, 1}, manifest_of("def", 1024));
  c.keep_only({FileStamp{1, 2, 3, 1}});
  CHECK(c.size() == 1);
  CHECK(c.find(FileStamp{1, 2, 3, 1}, 1024));
  REQUIRE(c.save());
  HashCache again(dir.path / "hashes");
  CHECK(again.load() == 1);
}

TEST_CASE("a SHA-256 from base64, as HTTP digest headers carry it") {
  const auto d =
      p2p::sha256_from_hex("133ee989293f92736301280c6f14c89d521200c17dcdcecca30cd20705332d44");
  REQUIRE(d);
  CHECK(p2p::sha256_from_base64("Ez7piSk/knNjASgMbxTInVISAMF9zc7MowzSBwUzLUQ=") == d);
  CHECK_FALSE(p2p::sha256_from_base64("Ez7piSk/knNjASgMbxTInVISAMF9zc7MowzSBwUzLUQ"));
  CHECK_FALSE(p2p::sha256_from_base64("Ez7piSk/knNjASgMbxTInVISAMF9zc7MowzSBwUzLU=="));
  CHECK_FALSE(p2p::sha256_from_base64("!z7piSk/knNjASgMbxTInVISAMF9zc7MowzSBwUzLUQ="));
}
