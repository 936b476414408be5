#include <doctest/doctest.h>
#include <fcntl.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/random_access_file.hpp>
#include <atomic>
#include <optional>
#include <string>

#include "content/sha256.hpp"
#include "io/hash_file.hpp"
#include "temp_dir.hpp"

using namespace p2p;
using p2p::testing::TempDir;

namespace {

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131) ^ (i >> 9));
  return s;
}

// Hashes `path` as if it had `size` bytes.
Result<Manifest> hash(const std::filesystem::path& path, uint64_t size, uint64_t piece,
                      bool stop = false) {
  asio::io_context ctx;
  asio::random_access_file file(ctx, path.string(), asio::random_access_file::read_only);
  std::atomic<bool> stopping{stop};
  std::atomic<uint64_t> hashed{0};
  std::optional<Result<Manifest>> out;
  // co_spawn's completion needs a default-constructible value: keep the Result here.
  auto run = [&]() -> asio::awaitable<void> {
    out.emplace(co_await hash_file(file, size, piece, stopping, &hashed));
  };
  asio::co_spawn(ctx, run(), asio::detached);
  ctx.run();
  REQUIRE(out);
  if (out->ok()) CHECK(hashed.load() == size);
  return std::move(*out);
}

}  // namespace

TEST_CASE("hash_file: the same manifest as hashing the bytes in memory") {
  TempDir dir;
  constexpr uint64_t piece = 256 * 1024;
  // From 8 MiB on, the whole digest runs on a second thread beside the pieces'.
  for (uint64_t size : {uint64_t{0}, uint64_t{1}, piece - 1, piece, piece + 1, 10 * piece + 7,
                        uint64_t{8} << 20, (uint64_t{8} << 20) + 3, (uint64_t{21} << 20) - 1}) {
    CAPTURE(size);
    const std::string data = pattern(size);
    dir.write("f", data);
    const auto m = hash(dir.path / "f", size, piece);
    REQUIRE(m.ok());
    ManifestBuilder b(piece);
    b.update(data);
    const Manifest want = b.finish();
    CHECK(m->sha256 == want.sha256);
    CHECK(m->sha256 == sha256_of(data));
    CHECK(m->pieces == want.pieces);
    CHECK(m->size == size);
  }
}

TEST_CASE("hash_file: a file shorter than it was said to be fails, and so does a stop") {
  TempDir dir;
  dir.write("f", pattern(3 << 20));
  const auto shrunk = hash(dir.path / "f", 4 << 20, 1 << 20);
  REQUIRE_FALSE(shrunk.ok());
  CHECK(shrunk.error().why.find("shrank") != std::string::npos);
  CHECK_FALSE(hash(dir.path / "f", 3 << 20, 1 << 20, true).ok());
  // The same on the two-thread path: the side thread is stopped and joined.
  dir.write("g", pattern(9 << 20));
  const auto big = hash(dir.path / "g", 12 << 20, 1 << 20);
  REQUIRE_FALSE(big.ok());
  CHECK(big.error().why.find("shrank") != std::string::npos);
  CHECK_FALSE(hash(dir.path / "g", 9 << 20, 1 << 20, true).ok());
}
