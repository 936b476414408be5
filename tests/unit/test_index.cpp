#include <doctest/doctest.h>
#include <unistd.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>
#include <vector>

#include "content/sha256.hpp"
#include "core/names.hpp"
#include "eventually.hpp"
#include "index/file_index.hpp"
#include "index/folder_watcher.hpp"
#include "temp_dir.hpp"

using namespace p2p;
using p2p::testing::TempDir;
namespace fs = std::filesystem;

namespace {

// Runs the watcher until `done` holds or 3 s pass; returns whether it held.
bool watch_until(FileIndex& index, const std::function<void()>& change,
                 const std::function<bool()>& done) {
  asio::io_context ctx;
  FolderWatcher watcher(ctx.get_executor(), index);
  watcher.start();
  asio::steady_timer poll(ctx);
  const auto start = std::chrono::steady_clock::now();
  bool held = false;
  std::function<void()> check = [&] {
    if (done()) {
      held = true;
      watcher.stop();
      return;
    }
    if (std::chrono::steady_clock::now() - start > std::chrono::seconds(3)) {
      watcher.stop();
      return;
    }
    poll.expires_after(std::chrono::milliseconds(10));
    poll.async_wait([&](auto) { check(); });
  };
  asio::post(ctx, [&] {
    change();
    check();
  });
  ctx.run();
  return held;
}

}  // namespace

TEST_CASE("scan lists regular files with size and URI, skipping the rest") {
  TempDir d;
  d.write("b.txt", "hello");
  d.write("A.txt", "");
  d.write("my file ñ.txt", "xy");
  d.write(std::string(kTempPrefix) + "upload", "partial");
  fs::create_directory(d.path / "sub");
  fs::create_symlink("/etc/passwd", d.path / "link");
  FileIndex index(d.path);
  index.rescan();
  const auto snap = index.snapshot();
  REQUIRE(snap->files.size() == 3);
  CHECK(snap->files[0].name == "A.txt");
  CHECK(snap->files[1].name == "b.txt");
  CHECK(snap->files[1].size == 5);
  CHECK(snap->files[1].uri == "file://" + (d.path / "b.txt").string());
  CHECK(snap->files[2].uri.ends_with("/my%20file%20%C3%B1.txt"));
  CHECK(snap->total_bytes == 7);
}

TEST_CASE("lookup is trimmed, case-insensitive and exact") {
  TempDir d;
  d.write("Documento1.txt", "abc");
  FileIndex index(d.path);
  index.rescan();
  CHECK(index.find("documento1.txt"));
  CHECK(index.find("  DOCUMENTO1.TXT "));
  CHECK(index.find("documento1.txt")->name == "Documento1.txt");
  CHECK_FALSE(index.find("documento1"));
  CHECK_FALSE(index.find("ocumento1.txt"));
}

TEST_CASE("refresh sees added, changed and removed names") {
  TempDir d;
  FileIndex index(d.path);
  index.rescan();
  d.write("new.txt", "1234");
  index.refresh("new.txt");
  CHECK(index.find("new.txt")->size == 4);
  d.write("new.txt", "12345678");
  index.refresh("new.txt");
  CHECK(index.find("new.txt")->size == 8);
  fs::remove(d.path / "new.txt");
  index.refresh("new.txt");
  CHECK_FALSE(index.find("new.txt"));
}

TEST_CASE("an old snapshot stays valid while the index changes") {
  TempDir d;
  d.write("keep.txt", "x");
  FileIndex index(d.path);
  index.rescan();
  const auto before = index.snapshot();
  fs::remove(d.path / "keep.txt");
  index.rescan();
  CHECK(before->find("keep.txt"));
  CHECK_FALSE(index.snapshot()->find("keep.txt"));
}

TEST_CASE(
    "a rescan of an unchanged folder publishes nothing; a change, an addition or a removal does") {
  TempDir d;
  d.write("a.txt", "abc");
  FileIndex index(d.path);
  CHECK(index.rescan());
  const auto first = index.snapshot();
  CHECK_FALSE(index.rescan());
  CHECK(index.snapshot() == first);
  d.write("a.txt", "abcd");
  CHECK(index.rescan());
  d.write("b.txt", "");
  CHECK(index.rescan());
  fs::remove(d.path / "a.txt");
  CHECK(index.rescan());
  CHECK(index.snapshot()->files.size() == 1);
  CHECK_FALSE(index.rescan());
}

TEST_CASE("the watcher sees a created file") {
  TempDir d;
  FileIndex index(d.path);
  index.rescan();
  CHECK(watch_until(
      index, [&] { d.write("live.txt", "abc"); },
      [&] { return index.find("live.txt") && index.find("live.txt")->size == 3; }));
}

TEST_CASE("the watcher sees a removed file") {
  TempDir d;
  d.write("gone.txt", "abc");
  FileIndex index(d.path);
  index.rescan();
  REQUIRE(index.find("gone.txt"));
  CHECK(watch_until(
      index, [&] { fs::remove(d.path / "gone.txt"); }, [&] { return !index.find("gone.txt"); }));
}

TEST_CASE("the watcher sees a rename, and ignores temporaries") {
  TempDir d;
  d.write("old.txt", "abc");
  FileIndex index(d.path);
  index.rescan();
  CHECK(watch_until(
      index,
      [&] {
        fs::rename(d.path / "old.txt", d.path / "renamed.txt");
        d.write(std::string(kTempPrefix) + "x", "tmp");
      },
      [&] { return !index.find("old.txt") && index.find("renamed.txt"); }));
  CHECK(index.snapshot()->files.size() == 1);
}

TEST_CASE("the watcher sees a rewritten file") {
  TempDir d;
  d.write("doc.txt", "abc");
  FileIndex index(d.path);
  index.rescan();
  CHECK(watch_until(
      index, [&] { d.write("doc.txt", std::string(1000, 'z')); },
      [&] { return index.find("doc.txt")->size == 1000; }));
}

TEST_CASE("manifests: attached to the version they were computed for, dropped when it changes") {
  TempDir dir;
  dir.write("a.bin", "hello");
  dir.write("b.bin", "world");
  FileIndex index(dir.path);
  int changes = 0;
  index.on_change([&] { ++changes; });
  index.rescan();
  CHECK(changes == 1);
  auto snap = index.snapshot();
  CHECK(snap->unhashed == 2);
  const FileEntry a = *snap->find("a.bin");
  CHECK(a.ino != 0);
  auto m = std::make_shared<Manifest>();
  m->size = 5;
  m->sha256 = sha256_of("hello");

  // A manifest for another version of the file (another mtime) is not attached.
  FileStamp stale = a.stamp();
  stale.mtime_ns -= 1;
  index.set_manifests({{"a.bin", stale, m}});
  CHECK_FALSE(index.snapshot()->find("a.bin")->manifest);

  index.set_manifests({{"a.bin", a.stamp(), m}});
  snap = index.snapshot();
  CHECK(snap->find("a.bin")->manifest == m);
  CHECK(snap->unhashed == 1);
  CHECK(snap->find_sha256(sha256_of("hello"))->name == "a.bin");
  CHECK_FALSE(snap->find_sha256(sha256_of("world")));
  CHECK(changes == 1);  // attaching manifests is no change to hash

  // Refreshing an unchanged file keeps its manifest; a rescan too.
  index.refresh("a.bin");
  CHECK(index.snapshot()->find("a.bin")->manifest == m);
  index.rescan();
  CHECK(index.snapshot()->find("a.bin")->manifest == m);

  // The file changes: the manifest goes, and the hasher is told.
  const int before = changes;
  dir.write("a.bin", "hello, again");
  index.refresh("a.bin");
  CHECK_FALSE(index.snapshot()->find("a.bin")->manifest);
  CHECK(changes == before + 1);
}

TEST_CASE("the watcher runs on a many-threaded io_context and stops from another thread") {
  TempDir d;
  FileIndex index(d.path);
  index.rescan();
  asio::io_context ctx(4);
  auto work = asio::make_work_guard(ctx);
  FolderWatcher watcher(ctx.get_executor(), index);
  watcher.start();
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&] { ctx.run(); });
  d.write("seen.txt", "abc");
  CHECK(p2p::testing::eventually([&] { return index.find("seen.txt").has_value(); },
                                 std::chrono::seconds(3)));
  // Closed on the watcher's strand, whatever its coroutine is doing on the other threads;
  // with the coroutine gone, only the guard keeps the io_context running.
  watcher.stop();
  d.write("more.txt", "x");
  work.reset();
  for (auto& t : threads) t.join();
  CHECK(ctx.stopped());
}
