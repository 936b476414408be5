#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stop_token>
#include <thread>

#include "cli/swarm.hpp"
#include "core/names.hpp"
#include "eventually.hpp"
#include "temp_dir.hpp"

using namespace p2p;
namespace fs = std::filesystem;
using Kind = SwarmFailure::Kind;

namespace {

constexpr uint64_t kPiece = 64 * 1024;
constexpr size_t kChunk = 16 * 1024;

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

Manifest manifest_of(const std::string& data, uint64_t piece_size = kPiece) {
  ManifestBuilder b(piece_size);
  b.update(data);
  return b.finish();
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// What a fake holder did, readable after the swarm owns the fake.
struct Tally {
  std::atomic<uint64_t> bytes{0};
  std::atomic<int> fetches{0};
  std::atomic<bool> sent_corrupt{false};
  std::atomic<bool> cancelled{false};  // a fetch of it was cancelled
  std::atomic<bool> refused{false};    // the swarm's sink refused what it sent
};

struct Behaviour {
  std::optional<uint64_t> fail_after;  // bytes it sends in all before every fetch fails
  std::set<uint64_t> corrupt;          // pieces it sends with one byte flipped
  bool block = false;                  // sends nothing until cancelled
  std::function<void()> gate;          // runs before each fetch (waits for another holder)
};

Behaviour failing_after(uint64_t bytes) {
  Behaviour b;
  b.fail_after = bytes;
  return b;
}
Behaviour rotten(std::set<uint64_t> pieces) {
  Behaviour b;
  b.corrupt = std::move(pieces);
  return b;
}
Behaviour blocking() {
  Behaviour b;
  b.block = true;
  return b;
}
Behaviour gated(std::function<void()> gate) {
  Behaviour b;
  b.gate = std::move(gate);
  return b;
}

SwarmOptions forced() {
  SwarmOptions o;
  o.force = true;
  return o;
}
SwarmOptions with_progress(std::function<void(size_t, uint64_t, uint64_t)> f) {
  SwarmOptions o;
  o.progress = std::move(f);
  return o;
}

class FakeSource : public PieceSource {
 public:
  FakeSource(std::string label, const std::string& data, Behaviour b, std::shared_ptr<Tally> tally)
      : label_(std::move(label)), data_(data), b_(std::move(b)), tally_(std::move(tally)) {}

  std::string label() const override { return label_; }

  Result<void> fetch(uint64_t offset, uint64_t length,
                     const std::function<bool(std::string_view)>& sink,
                     std::stop_token stop) override {
    ++tally_->fetches;
    if (b_.gate) b_.gate();
    if (b_.block) {
      std::mutex mu;
      std::unique_lock lock(mu);
      std::condition_variable_any().wait_for(lock, stop, std::chrono::seconds(20),
                                             [] { return false; });
      tally_->cancelled = tally_->cancelled || stop.stop_requested();
      return Problem{stop.stop_requested() ? "cancelled" : "blocked for 20 s"};
    }
    const uint64_t end = std::min<uint64_t>(offset + length, data_.size());
    for (uint64_t pos = offset; pos < end; pos += kChunk) {
      if (stop.stop_requested()) {
        tally_->cancelled = true;
        return Problem{"cancelled"};
      }
      const size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, end - pos));
      if (b_.fail_after && sent_ + n > *b_.fail_after) return Problem{"connection reset"};
      std::string chunk = data_.substr(pos, n);
      for (uint64_t p : b_.corrupt) {
        const uint64_t at = p * kPiece;
        if (at >= pos && at < pos + n) {
          chunk[at - pos] ^= 1;
          tally_->sent_corrupt = true;
        }
      }
      sent_ += n;
      tally_->bytes += n;
      if (!sink(chunk)) {
        tally_->refused = true;
        return Problem{"stopped by the receiver"};
      }
    }
    return {};
  }

 private:
  std::string label_;
  const std::string& data_;
  Behaviour b_;
  std::shared_ptr<Tally> tally_;
  uint64_t sent_ = 0;
};

// A set of fake holders of one file.
struct Holders {
  const std::string& data;
  std::vector<std::unique_ptr<PieceSource>> sources;
  std::vector<std::shared_ptr<Tally>> tallies;

  explicit Holders(const std::string& d) : data(d) {}
  Tally& add(Behaviour b = {}) {
    tallies.push_back(std::make_shared<Tally>());
    sources.push_back(std::make_unique<FakeSource>("holder" + std::to_string(tallies.size()), data,
                                                   std::move(b), tallies.back()));
    return *tallies.back();
  }
};

fs::path part_of(const testing::TempDir& d, const std::string& name) {
  return d.path / (std::string(kPartPrefix) + name);
}
fs::path state_of(const testing::TempDir& d, const std::string& name) {
  return d.path / (std::string(kStatePrefix) + name);
}

// Runs `s`, which must put `data` at `file`.
void expect_downloaded(Swarm& s, const fs::path& file, const std::string& data) {
  auto r = s.run();
  REQUIRE_MESSAGE(r.ok(), r.error().why);
  CHECK(*r == file);
  CHECK(slurp(file) == data);
}

uint64_t total_bytes(const Holders& h) {
  uint64_t n = 0;
  for (const auto& t : h.tallies) n += t->bytes;
  return n;
}

}  // namespace

TEST_CASE("three holders each send part of the file; the result is byte-exact") {
  testing::TempDir d;
  const std::string data = random_bytes(20 * kPiece + 123, 1);
  Holders h(data);
  // No holder starts a second request before each has verified its first piece.
  Swarm* self = nullptr;
  const auto all_verified = [&] {
    const auto stats = self->stats();
    return std::all_of(stats.begin(), stats.end(),
                       [](const HolderStats& st) { return st.pieces_verified > 0; });
  };
  for (size_t i = 0; i < 3; ++i)
    h.add(gated([&, i] {
      if (h.tallies[i]->fetches > 1) CHECK(testing::eventually(all_verified));
    }));
  std::vector<size_t> in_use;
  Swarm s(manifest_of(data), "f.bin", d.path, std::move(h.sources),
          with_progress([&](size_t n, uint64_t, uint64_t) { in_use.push_back(n); }));
  self = &s;
  expect_downloaded(s, d.path / "f.bin", data);
  CHECK_FALSE(fs::exists(part_of(d, "f.bin")));
  CHECK_FALSE(fs::exists(state_of(d, "f.bin")));
  uint64_t verified = 0;
  for (const auto& st : s.stats()) {
    CHECK(st.pieces_verified > 0);
    CHECK_FALSE(st.dropped);
    verified += st.pieces_verified;
  }
  CHECK(verified == 21);
  REQUIRE_FALSE(in_use.empty());
  CHECK(in_use.back() == 3);
}

TEST_CASE("a holder that fails mid-way is dropped; the others finish") {
  testing::TempDir d;
  const std::string data = random_bytes(12 * kPiece, 2);
  Holders h(data);
  h.add(failing_after(3 * kPiece + 100));
  // The good holder starts once the failing one is gone.
  Swarm* self = nullptr;
  h.add(gated([&] { CHECK(testing::eventually([&] { return self->stats()[0].dropped; })); }));
  Swarm s(manifest_of(data), "f.bin", d.path, std::move(h.sources));
  self = &s;
  expect_downloaded(s, d.path / "f.bin", data);
  const auto stats = s.stats();
  CHECK(stats[0].dropped);
  CHECK(stats[0].why_dropped == "connection reset");
  CHECK(stats[0].pieces_rejected == 0);
  CHECK_FALSE(stats[1].dropped);
}

TEST_CASE("a holder with bit rot is dropped and its pieces are fetched elsewhere") {
  testing::TempDir d;
  const std::string data = random_bytes(10 * kPiece + 5, 3);
  Holders h(data);
  Tally& rot = h.add(rotten({1, 4}));
  // The good holder starts once the swarm has refused the rotten one's bad piece (before
  // that, nobody else could have delivered that piece first, however slow the machine).
  Tally& good =
      h.add(gated([&] { CHECK(testing::eventually([&] { return rot.refused.load(); })); }));
  Swarm s(manifest_of(data), "f.bin", d.path, std::move(h.sources));
  expect_downloaded(s, d.path / "f.bin", data);
  const auto stats = s.stats();
  CHECK(stats[0].dropped);
  CHECK(stats[0].pieces_rejected == 1);
  CHECK(stats[0].why_dropped.starts_with("sent bad data (piece "));
  CHECK(stats[1].pieces_verified + stats[0].pieces_verified == 11);
  CHECK(good.bytes > 0);
}

TEST_CASE(
    "with only a rotten holder the download fails as 'did not verify', keeping what verified") {
  testing::TempDir d;
  const std::string data = random_bytes(10 * kPiece, 4);
  const Manifest m = manifest_of(data);
  {
    Holders h(data);
    h.add(rotten({3, 7}));
    Swarm s(m, "f.bin", d.path, std::move(h.sources));
    auto r = s.run();
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == Kind::did_not_verify);
    CHECK(r.error().why.find("data did not verify") == 0);
    CHECK_FALSE(fs::exists(d.path / "f.bin"));
    CHECK(fs::exists(part_of(d, "f.bin")));
    CHECK(slurp(state_of(d, "f.bin")).find("verified e0") != std::string::npos);  // 0, 1, 2
  }
  // A good holder later: the three verified pieces are not fetched again.
  Holders h(data);
  Tally& t = h.add();
  Swarm s(m, "f.bin", d.path, std::move(h.sources));
  auto r = s.run();
  REQUIRE_MESSAGE(r.ok(), r.error().why);
  CHECK(s.pieces_resumed() == 3);
  CHECK(t.bytes == 7 * kPiece);
  CHECK(slurp(d.path / "f.bin") == data);
}

TEST_CASE("an interrupted download resumed fetches only the missing pieces") {
  testing::TempDir d;
  const std::string data = random_bytes(32 * kPiece + 999, 5);
  const Manifest m = manifest_of(data);
  uint64_t verified_at_stop = 0;
  {
    Holders h(data);
    h.add();
    Swarm* self = nullptr;
    Swarm s(m, "f.bin", d.path, std::move(h.sources),
            with_progress([&](size_t, uint64_t verified, uint64_t total) {
              verified_at_stop = verified;
              if (verified >= total / 3) self->cancel();  // Ctrl-C a third of the way
            }));
    self = &s;
    auto r = s.run();
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == Kind::cancelled);
    CHECK_FALSE(fs::exists(d.path / "f.bin"));
    CHECK(fs::file_size(part_of(d, "f.bin")) == data.size());
  }
  REQUIRE(verified_at_stop >= data.size() / 3);
  REQUIRE(verified_at_stop < data.size());
  Holders h(data);
  h.add();
  // `started` says what was resumed before any holder is asked (the CLI's "resuming" line).
  std::optional<std::pair<uint64_t, uint64_t>> started;
  uint64_t bytes_when_started = 1;
  Tally& tally = *h.tallies.back();
  SwarmOptions o;
  o.started = [&](uint64_t verified, uint64_t pieces) {
    started = {verified, pieces};
    bytes_when_started = tally.bytes;
  };
  Swarm s(m, "f.bin", d.path, std::move(h.sources), o);
  expect_downloaded(s, d.path / "f.bin", data);
  CHECK(s.pieces_resumed() * kPiece >= verified_at_stop);
  REQUIRE(started);
  CHECK(started->first == s.pieces_resumed());
  CHECK(started->second == m.piece_count());
  CHECK(bytes_when_started == 0);
  // At most one piece beyond what was missing.
  CHECK(total_bytes(h) <= data.size() - verified_at_stop + kPiece);
}

TEST_CASE("a record of other content under the same name is not trusted: it starts over") {
  testing::TempDir d;
  const std::string old_data = random_bytes(8 * kPiece, 6);
  {
    Holders h(old_data);
    h.add(rotten({5}));
    Swarm s(manifest_of(old_data), "f.bin", d.path, std::move(h.sources));
    REQUIRE_FALSE(s.run().ok());
    REQUIRE(fs::exists(state_of(d, "f.bin")));
  }
  const std::string data = random_bytes(8 * kPiece, 7);
  Holders h(data);
  Tally& t = h.add();
  Swarm s(manifest_of(data), "f.bin", d.path, std::move(h.sources));
  auto r = s.run();
  REQUIRE_MESSAGE(r.ok(), r.error().why);
  CHECK(s.pieces_resumed() == 0);
  CHECK(t.bytes == data.size());
  CHECK(slurp(d.path / "f.bin") == data);
}

TEST_CASE("force: replaces an existing file and ignores the record") {
  testing::TempDir d;
  const std::string data = random_bytes(6 * kPiece, 8);
  const Manifest m = manifest_of(data);
  d.write("f.bin", "old");
  {
    Holders h(data);
    Tally& t = h.add();
    Swarm s(m, "f.bin", d.path, std::move(h.sources));
    auto r = s.run();
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == Kind::exists);
    CHECK(t.fetches == 0);
    CHECK(slurp(d.path / "f.bin") == "old");
  }
  {
    Holders h(data);
    h.add(rotten({4}));
    Swarm s(m, "g.bin", d.path, std::move(h.sources));
    REQUIRE_FALSE(s.run().ok());
  }
  for (const std::string name : {"f.bin", "g.bin"}) {
    Holders h(data);
    Tally& t = h.add();
    Swarm s(m, name, d.path, std::move(h.sources), forced());
    auto r = s.run();
    REQUIRE_MESSAGE(r.ok(), r.error().why);
    CHECK(s.pieces_resumed() == 0);
    CHECK(t.bytes == data.size());
    CHECK(slurp(d.path / name) == data);
  }
}

TEST_CASE("an empty file and a one-piece file") {
  testing::TempDir d;
  for (const std::string& data : {std::string(), random_bytes(1000, 9)}) {
    Holders h(data);
    Tally& t = h.add();
    Swarm s(manifest_of(data), "f" + std::to_string(data.size()), d.path, std::move(h.sources));
    auto r = s.run();
    REQUIRE_MESSAGE(r.ok(), r.error().why);
    CHECK(fs::exists(*r));
    CHECK(slurp(*r) == data);
    CHECK(t.bytes == data.size());
    CHECK(t.fetches == (data.empty() ? 0 : 1));
  }
  CHECK(fs::directory_iterator(d.path) != fs::directory_iterator());
  for (const auto& e : fs::directory_iterator(d.path))
    CHECK_FALSE(e.path().filename().string().starts_with("."));
}

TEST_CASE("end-game: a holder that never answers does not stall the finish") {
  testing::TempDir d;
  const std::string data = random_bytes(9 * kPiece, 10);
  Holders h(data);
  Tally& stuck = h.add(blocking());
  h.add(gated([&] { CHECK(testing::eventually([&] { return stuck.fetches > 0; })); }));
  Swarm s(manifest_of(data), "f.bin", d.path, std::move(h.sources));
  expect_downloaded(s, d.path / "f.bin", data);
  CHECK(stuck.cancelled);  // its copy was cancelled once the other one verified
  const auto stats = s.stats();
  CHECK(stats[0].pieces_verified == 0);
  CHECK_FALSE(stats[0].dropped);
  CHECK(stats[1].pieces_verified == 9);
}

TEST_CASE("cancel() stops a download whose only holder never answers") {
  testing::TempDir d;
  const std::string data = random_bytes(3 * kPiece, 11);
  Holders h(data);
  Tally& stuck = h.add(blocking());
  Swarm s(manifest_of(data), "f.bin", d.path, std::move(h.sources));
  std::thread stopper([&] {
    CHECK(testing::eventually([&] { return stuck.fetches > 0; }));
    s.cancel();
  });
  auto r = s.run();
  stopper.join();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == Kind::cancelled);
  CHECK(stuck.cancelled);
}

TEST_CASE("the rate limit is consulted for every byte and its waits are slept") {
  testing::TempDir d;
  const std::string data = random_bytes(16 * kPiece, 12);
  Holders h(data);
  h.add();
  // Simulated time: it passes only when the swarm sleeps.
  std::atomic<int64_t> now_ns{0};
  TokenBucket bucket(256 * 1024, 64 * 1024);
  SwarmOptions o;
  o.rate = &bucket;
  o.now = [&] { return TokenBucket::Clock::time_point(std::chrono::nanoseconds(now_ns.load())); };
  o.sleep = [&](TokenBucket::Clock::duration w) {
    now_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(w).count();
  };
  Swarm s(manifest_of(data), "f.bin", d.path, std::move(h.sources), o);
  expect_downloaded(s, d.path / "f.bin", data);
  // 1 MiB at 256 KiB/s with 64 KiB of burst: 3.75 s of waiting.
  CHECK(double(now_ns.load()) / 1e9 == doctest::Approx(3.75).epsilon(0.001));
}

TEST_CASE("pieces that all verify but a whole file that does not: 'did not verify'") {
  testing::TempDir d;
  const std::string data = random_bytes(3 * kPiece, 13);
  Manifest m = manifest_of(data);
  m.sha256[0] ^= 1;
  Holders h(data);
  h.add();
  Swarm s(m, "f.bin", d.path, std::move(h.sources));
  auto r = s.run();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == Kind::did_not_verify);
  CHECK_FALSE(fs::exists(d.path / "f.bin"));
}

TEST_CASE("names: only plain names, and a manifest must fit its size") {
  testing::TempDir d;
  const std::string data = random_bytes(100, 14);
  for (const std::string& name :
       std::vector<std::string>{"../x", "", ".p2p-tmp-x", std::string(250, 'a')}) {
    Holders h(data);
    h.add();
    Swarm s(manifest_of(data), name, d.path, std::move(h.sources));
    auto r = s.run();
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == Kind::invalid);
  }
  Manifest m = manifest_of(data);
  m.pieces.push_back({});
  Holders h(data);
  h.add();
  Swarm s(m, "f.bin", d.path, std::move(h.sources));
  auto r = s.run();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == Kind::invalid);
  CHECK(fs::is_empty(d.path));
}

TEST_CASE("no holders: unavailable") {
  testing::TempDir d;
  const std::string data = random_bytes(100, 15);
  Swarm s(manifest_of(data), "f.bin", d.path, {});
  auto r = s.run();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == Kind::unavailable);
}

TEST_CASE("a part file replaced during the download is not renamed into place") {
  testing::TempDir d;
  const std::string data = random_bytes(2 * kPiece, 16);
  Holders h(data);
  h.add(gated([&] {
    d.write("other", "not the download");
    fs::rename(d.path / "other", part_of(d, "f.bin"));
  }));
  Swarm s(manifest_of(data), "f.bin", d.path, std::move(h.sources));
  auto r = s.run();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == Kind::io);
  CHECK_FALSE(fs::exists(d.path / "f.bin"));
}

TEST_CASE("the record is kept current while the download runs, so a crash resumes too") {
  testing::TempDir d;
  const std::string data = random_bytes(16 * kPiece, 17);
  const Manifest m = manifest_of(data);
  const fs::path crash = d.path / "crash";
  fs::create_directory(crash);
  uint64_t verified_at_crash = 0;
  {
    Holders h(data);
    h.add();
    SwarmOptions o = with_progress([&](size_t, uint64_t verified, uint64_t total) {
      // What a crash here would leave on disk: the part file and the record as they are.
      if (verified_at_crash == 0 && verified >= total / 2) {
        verified_at_crash = verified;
        fs::copy_file(part_of(d, "f.bin"), crash / part_of(d, "f.bin").filename());
        fs::copy_file(state_of(d, "f.bin"), crash / state_of(d, "f.bin").filename());
      }
    });
    o.state_interval = std::chrono::milliseconds(0);
    Swarm s(m, "f.bin", d.path, std::move(h.sources), o);
    expect_downloaded(s, d.path / "f.bin", data);
  }
  REQUIRE(verified_at_crash > 0);
  Holders h(data);
  Tally& t = h.add();
  Swarm s(m, "f.bin", crash, std::move(h.sources));
  expect_downloaded(s, crash / "f.bin", data);
  CHECK(s.pieces_resumed() * kPiece == verified_at_crash);
  CHECK(t.bytes == data.size() - verified_at_crash);
}
