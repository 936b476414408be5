#include <doctest/doctest.h>
#include <sys/stat.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "content/sha256.hpp"
#include "eventually.hpp"
#include "peer/hasher.hpp"
#include "temp_dir.hpp"

using namespace p2p;
using p2p::testing::eventually;
using p2p::testing::TempDir;

namespace {

uint64_t metric(const Hasher& h, const std::string& series) {
  metrics::Exposition e;
  h.write_metrics(e);
  const std::string& t = e.text();
  const auto at = t.find("\n" + series + " ");
  REQUIRE(at != std::string::npos);
  return std::stoull(t.substr(at + series.size() + 2));
}

// A peer's share as the hasher sees it: started, and waited for until every file is hashed.
struct HashedShare {
  FileIndex index;
  SharedFolder folder;
  Hasher hasher;
  HashedShare(const TempDir& share, std::optional<std::filesystem::path> cache, uint64_t piece)
      : index(share.path), folder(share.path), hasher(index, folder, std::move(cache), piece) {
    index.rescan();
    hasher.start();
    REQUIRE(eventually([&] { return index.snapshot()->unhashed == 0; }));
  }
};

}  // namespace

TEST_CASE("every file gets its manifest; a restart over unchanged files reads none") {
  TempDir share, state;
  constexpr int kFiles = 1000;
  for (int i = 0; i < kFiles; ++i) share.write("f" + std::to_string(i), std::string(i, 'x'));
  const auto cache = state.path / "hashes";
  {
    HashedShare first(share, cache, 4096);
    const auto snap = first.index.snapshot();
    CHECK(snap->find("f999")->manifest->sha256 == sha256_of(std::string(999, 'x')));
    CHECK(snap->find("f0")->manifest->pieces.empty());
    CHECK(metric(first.hasher, "p2p_hash_files_total{outcome=\"hashed\"}") == kFiles);
  }
  HashedShare again(share, cache, 4096);
  CHECK(metric(again.hasher, "p2p_hash_bytes_total") == 0);
  CHECK(metric(again.hasher, "p2p_hash_files_total{outcome=\"cached\"}") == kFiles);
  CHECK(again.index.snapshot()->find("f999")->manifest->sha256 == sha256_of(std::string(999, 'x')));
}

TEST_CASE("a changed file is hashed again; another piece size is another manifest") {
  TempDir share, state;
  share.write("a", "one");
  const auto cache = state.path / "hashes";
  {
    HashedShare first(share, cache, 4096);
    share.write("a", "two, longer");
    first.index.refresh("a");  // what the watcher does
    REQUIRE(eventually([&] {
      const auto snap = first.index.snapshot();  // the entry lives as long as its snapshot
      const auto* e = snap->find("a");
      return e->manifest && e->manifest->sha256 == sha256_of("two, longer");
    }));
  }
  HashedShare again(share, cache, 8192);
  CHECK(again.index.snapshot()->find("a")->manifest->piece_size == 8192);
  CHECK(metric(again.hasher, "p2p_hash_files_total{outcome=\"hashed\"}") == 1);
}

TEST_CASE("a manifest learned from an upload is used without reading the file") {
  TempDir share;
  share.write("up", "uploaded bytes");
  FileIndex index(share.path);
  SharedFolder folder(share.path);
  Hasher h(index, folder, std::nullopt, 4096);
  h.start();
  index.rescan();
  const FileEntry e = *index.snapshot()->find("up");
  ManifestBuilder b(4096);
  b.update("uploaded bytes");
  h.learned({"up", e.stamp(), std::make_shared<const Manifest>(b.finish())});
  REQUIRE(eventually([&] { return index.snapshot()->unhashed == 0; }));
  CHECK(index.snapshot()->find("up")->manifest->sha256 == sha256_of("uploaded bytes"));
}

TEST_CASE("a manifest learned before the index lists the file is used when it does") {
  // An upload tells the hasher before its rename, so the watcher may list the file first or
  // later: either way it is never read.
  TempDir share;
  share.write("up", "uploaded bytes");
  struct stat st;
  REQUIRE(::stat((share.path / "up").c_str(), &st) == 0);
  FileIndex index(share.path);
  SharedFolder folder(share.path);
  Hasher h(index, folder, std::nullopt, 4096);
  h.start();
  ManifestBuilder b(4096);
  b.update("uploaded bytes");
  h.learned({"up", stamp_of(st), std::make_shared<const Manifest>(b.finish())});
  index.rescan();
  REQUIRE(eventually([&] { return index.snapshot()->unhashed == 0; }));
  const auto snap = index.snapshot();
  CHECK(snap->find("up")->manifest->sha256 == sha256_of("uploaded bytes"));
  CHECK(metric(h, "p2p_hash_bytes_total") == 0);
  CHECK(metric(h, "p2p_hash_files_total{outcome=\"learned\"}") == 1);
}

TEST_CASE("a running hasher saves its cache a moment after changes, without waiting for a stop") {
  TempDir share, state;
  share.write("a", "one");
  const auto cache = state.path / "hashes";
  HashedShare running(share, cache, 4096);
  // Saved once the changes pause (kSaveDelay), not at once: a save per upload fsynced the
  // cache beside every upload's own fsync.
  REQUIRE(eventually([&] { return std::filesystem::exists(cache); }));
  const auto first = std::filesystem::last_write_time(cache);
  share.write("b", "two");
  running.index.refresh("b");
  CHECK(eventually([&] { return std::filesystem::last_write_time(cache) != first; }));
}
