#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "io/file_appender.hpp"
#include "temp_dir.hpp"

using namespace p2p;
using p2p::testing::TempDir;

namespace {

constexpr uint64_t kStage = FileAppender::kStageBytes;

std::string bytes_of(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct Outcome {
  FsResult<void> result{};
  bool direct = false;
};

// Appends `data` to `fd` in parts of the sizes `parts` cycles through, `reserve` bytes set
// aside first (0: none), then finishes.
Outcome append_all(int fd, const std::string& data, std::vector<size_t> parts,
                   FileAppender::Mode mode, uint64_t reserve = 0) {
  asio::io_context ctx;
  Outcome out;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        FileAppender a(ctx.get_executor(), fd, "f", mode);
        out.direct = a.direct();
        if (out.result = a.reserve(reserve); !out.result) co_return;
        size_t off = 0;
        for (size_t i = 0; off < data.size(); ++i) {
          const size_t n = std::min(parts[i % parts.size()], data.size() - off);
          // Two buffers per call, as a batch of messages arrives.
          const size_t half = n / 2;
          const asio::const_buffer both[] = {asio::buffer(data.data() + off, half),
                                             asio::buffer(data.data() + off + half, n - half)};
          if (out.result = co_await a.append(both); !out.result) co_return;
          off += n;
          CHECK(a.size() == off);
        }
        out.result = co_await a.finish();
      },
      [](std::exception_ptr e) { REQUIRE_FALSE(e); });
  ctx.run();
  return out;
}

}  // namespace

TEST_CASE("file appender: the file holds exactly what was appended, at every stage edge") {
  TempDir dir;
  const auto path = dir.path / "out";
  for (auto mode : {FileAppender::Mode::direct_if_possible, FileAppender::Mode::buffered}) {
    for (uint64_t size : {uint64_t{0}, uint64_t{1}, uint64_t{4095}, kStage - 1, kStage, kStage + 1,
                          3 * kStage + 4097}) {
      for (bool reserve : {false, true}) {
        CAPTURE(static_cast<int>(mode));
        CAPTURE(size);
        CAPTURE(reserve);
        const std::string data = bytes_of(size, static_cast<unsigned>(size));
        const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        REQUIRE(fd >= 0);
        const Outcome o = append_all(fd, data, {65536, 1000, 300000}, mode, reserve ? size : 0);
        ::close(fd);
        REQUIRE(o.result);
        if (mode == FileAppender::Mode::buffered) CHECK_FALSE(o.direct);
        CHECK(read_file(path) == data);
      }
    }
  }
}

TEST_CASE("file appender: small announced uploads go through the page cache, others directly") {
  using Mode = FileAppender::Mode;
  CHECK(FileAppender::mode_for(1) == Mode::buffered);
  CHECK(FileAppender::mode_for(1 << 20) == Mode::buffered);
  CHECK(FileAppender::mode_for(FileAppender::kBufferedUpTo) == Mode::buffered);
  CHECK(FileAppender::mode_for(FileAppender::kBufferedUpTo + 1) == Mode::direct_if_possible);
  CHECK(FileAppender::mode_for(uint64_t{1} << 30) == Mode::direct_if_possible);
  // An upload that does not say its size may be of any size.
  CHECK(FileAppender::mode_for(0) == Mode::direct_if_possible);
}

TEST_CASE("file appender: fewer bytes than reserved leave the file at what was appended") {
  TempDir dir;
  const auto path = dir.path / "out";
  const std::string data = bytes_of(kStage + 10, 7);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  const Outcome o =
      append_all(fd, data, {65536}, FileAppender::Mode::direct_if_possible, 4 * kStage);
  ::close(fd);
  REQUIRE(o.result);
  CHECK(std::filesystem::file_size(path) == data.size());
  CHECK(read_file(path) == data);
}

TEST_CASE("file appender: a device that is full says so") {
  // /dev/full takes no O_DIRECT and fails every write with ENOSPC.
  const int fd = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  const Outcome o =
      append_all(fd, bytes_of(2 * kStage + 5, 3), {65536}, FileAppender::Mode::direct_if_possible);
  ::close(fd);
  REQUIRE_FALSE(o.result);
  CHECK(o.result.error().code == FsError::no_space);
  CHECK(o.result.error().why.find("'f'") != std::string::npos);
}

TEST_CASE("file appender: a reservation larger than the disk is refused at once") {
  TempDir dir;
  const auto path = dir.path / "out";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  const Outcome o =
      append_all(fd, "abc", {65536}, FileAppender::Mode::direct_if_possible, uint64_t{1} << 60);
  ::close(fd);
  REQUIRE_FALSE(o.result);
  CHECK(o.result.error().code == FsError::no_space);
  CHECK(o.result.error().why.find("'f'") != std::string::npos);
  // Refused by asking the file system first: nothing was allocated.
  CHECK(std::filesystem::file_size(path) == 0);
}

TEST_CASE("file appender: dropped with writes in flight, it leaves them their buffers and file") {
  TempDir dir;
  const auto path = dir.path / "out";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  const std::string data = bytes_of(3 * kStage + 100, 11);
  asio::io_context ctx;
  bool appended = false;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        FileAppender a(ctx.get_executor(), fd, "f", FileAppender::Mode::direct_if_possible);
        REQUIRE(a.reserve(4 * kStage));
        const asio::const_buffer all = asio::buffer(data);
        appended = static_cast<bool>(co_await a.append(std::span(&all, 1)));
        // Gone without finish(), as when an upload is cancelled: the last stages' writes are
        // still in flight.
      },
      [](std::exception_ptr e) { REQUIRE_FALSE(e); });
  ctx.run();  // returns once the abandoned writes have completed
  ::close(fd);
  CHECK(appended);
  // The stages that were written hold the right bytes.
  const std::string got = read_file(path);
  REQUIRE(got.size() >= 3 * kStage);
  CHECK(got.substr(0, 3 * kStage) == data.substr(0, 3 * kStage));
}
