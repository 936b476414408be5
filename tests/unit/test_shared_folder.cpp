#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/names.hpp"
#include "io/shared_folder.hpp"
#include "temp_dir.hpp"

using namespace p2p;
using p2p::testing::TempDir;
namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("open_read: regular files only, never through a symlink") {
  TempDir d;
  std::ofstream(d.path / "a.txt") << "abc";
  fs::create_symlink(d.path / "a.txt", d.path / "link");
  fs::create_directory(d.path / "dir");
  SharedFolder folder(d.path);
  auto ok = folder.open_read("a.txt");
  REQUIRE(ok);
  CHECK(ok->size == 3);
  auto link = folder.open_read("link");
  REQUIRE_FALSE(link);
  CHECK(link.error().code == FsError::permission_denied);
  CHECK(folder.open_read("dir").error().code == FsError::not_found);
  CHECK(folder.open_read("none").error().code == FsError::not_found);
}

TEST_CASE("a temporary is removed unless committed") {
  TempDir d;
  SharedFolder folder(d.path);
  {
    auto t = folder.create_temp();
    REQUIRE(t);
    CHECK(is_temp_name(t->name()));
    CHECK(fs::exists(d.path / t->name()));
  }
  CHECK(fs::is_empty(d.path));
}

TEST_CASE("commit renames atomically and refuses to replace unless told to") {
  TempDir d;
  SharedFolder folder(d.path);
  auto write_temp = [&](const std::string& content) {
    auto created = folder.create_temp();
    REQUIRE(created);
    TempFile t = std::move(created).value();
    REQUIRE(::write(t.fd(), content.data(), content.size()) ==
            static_cast<ssize_t>(content.size()));
    return t;
  };
  {
    auto t = write_temp("one");
    CHECK(t.commit("f.txt", false).ok());
  }
  CHECK(read_file(d.path / "f.txt") == "one");
  {
    auto t = write_temp("two");
    auto r = t.commit("f.txt", false);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == FsError::already_exists);
  }
  CHECK(read_file(d.path / "f.txt") == "one");
  {
    auto t = write_temp("three");
    CHECK(t.commit("f.txt", true).ok());
  }
  CHECK(read_file(d.path / "f.txt") == "three");
  size_t entries = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(d.path)) ++entries;
  CHECK(entries == 1);
}

TEST_CASE("stale temporaries are removed at start") {
  TempDir d;
  std::ofstream(d.path / (std::string(kTempPrefix) + "dead")) << "partial";
  std::ofstream(d.path / "keep.txt") << "x";
  // A download into the shared folder resumes from these: they stay.
  std::ofstream(d.path / (std::string(kPartPrefix) + "x.iso")) << "half";
  std::ofstream(d.path / (std::string(kStatePrefix) + "x.iso")) << "record";
  SharedFolder folder(d.path);
  CHECK(folder.remove_stale_temps() == 1);
  CHECK(fs::exists(d.path / "keep.txt"));
  CHECK(fs::exists(d.path / (std::string(kPartPrefix) + "x.iso")));
  CHECK(fs::exists(d.path / (std::string(kStatePrefix) + "x.iso")));
  CHECK_FALSE(fs::exists(d.path / (std::string(kTempPrefix) + "dead")));
}

TEST_CASE("errno maps to what a user can act on") {
  CHECK(fs_failure(ENOSPC, "cannot write", "x").code == FsError::no_space);
  CHECK(fs_failure(EACCES, "cannot open", "x").code == FsError::permission_denied);
  CHECK(fs_failure(EEXIST, "cannot store", "x").code == FsError::already_exists);
  CHECK(fs_failure(EIO, "cannot read", "x").code == FsError::io);
  CHECK(fs_failure(ENOSPC, "cannot write", "x").why.find("'x'") != std::string::npos);
}
