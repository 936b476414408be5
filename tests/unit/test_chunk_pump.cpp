#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/random_access_file.hpp>
#include <chrono>
#include <cstdio>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/token_bucket.hpp"
#include "io/chunk_pump.hpp"
#include "io/chunk_queue.hpp"
#include "io/receive_queue.hpp"

using namespace p2p;

namespace {

constexpr size_t kChunk = 65536;

// Sends by posting the completion back to the io_context, like a gRPC reactor whose
// OnWriteDone arrives later, and releases the buffer later still (gRPC may hold a slice
// over it after the write completed); fails every send from `fail_at` on.
struct FakeSink {
  asio::io_context& ctx;
  ChunkQueue& queue;
  std::string received;
  std::vector<size_t> sizes;
  int sending = 0;
  int max_sending = 0;
  int fail_at = -1;
  std::atomic<bool>* stop_when_sent = nullptr;  // set once the first send completed

  void start_send(int i) {
    ++sending;
    max_sending = std::max(max_sending, sending);
    const bool ok = fail_at < 0 || static_cast<int>(sizes.size()) < fail_at;
    if (ok) {
      const std::span<char> bytes = queue.filled(i);
      received.append(bytes.data(), bytes.size());
      sizes.push_back(bytes.size());
    }
    asio::post(ctx, [this, ok, i] {
      --sending;
      if (stop_when_sent) *stop_when_sent = true;
      if (const int next = queue.sent(ok); next >= 0) start_send(next);
      asio::post(ctx, [this, i] { queue.release(i); });
    });
  }
};

std::string random_bytes(size_t n) {
  std::mt19937 rng(static_cast<unsigned>(n));
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

struct Run {
  PumpOutcome outcome;
  std::string received;
  std::vector<size_t> sizes;
  int max_sending = 0;
};

struct PumpArgs {
  int buffers = 4;
  int fail_at = -1;
  uint64_t offset = 0;
  uint64_t length = 0;  // 0: the rest of the content
  TokenBucket* pace = nullptr;
  std::atomic<bool>* stop = nullptr;
  bool stop_when_sent = false;  // `stop` turns true once the first chunk was sent
};

Run pump(const std::string& content, const PumpArgs& a) {
  char path[] = "/tmp/p2p-pump-XXXXXX";
  const int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
  ::unlink(path);
  asio::io_context ctx;
  ChunkQueue queue(ctx.get_executor(), a.buffers, kChunk);
  FakeSink sink{ctx, queue, {}, {}, 0, 0, a.fail_at, a.stop_when_sent ? a.stop : nullptr};
  asio::random_access_file file(ctx, fd);
  Run run;
  const uint64_t length = a.length ? a.length : content.size() - a.offset;
  static const std::atomic<bool> never{false};
  asio::co_spawn(
      ctx, pump_file(file, a.offset, length, kChunk, queue, sink, a.stop ? *a.stop : never, a.pace),
      [&](std::exception_ptr e, PumpOutcome o) {
        REQUIRE_FALSE(e);
        run.outcome = o;
      });
  ctx.run();
  run.received = sink.received;
  run.sizes = sink.sizes;
  run.max_sending = sink.max_sending;
  return run;
}

}  // namespace

TEST_CASE("the pump sends every byte, in chunk-size pieces, one send at a time") {
  for (size_t size : {size_t{0}, size_t{1}, kChunk - 1, kChunk, kChunk + 1, 3 * kChunk + 7}) {
    for (int buffers : {2, 8}) {
      CAPTURE(size);
      CAPTURE(buffers);
      const std::string content = random_bytes(size);
      const Run run = pump(content, {.buffers = buffers});
      CHECK(run.outcome.result == PumpResult::done);
      CHECK(run.outcome.bytes == size);
      CHECK(run.received == content);
      CHECK(run.max_sending <= 1);
      CHECK(run.sizes.size() == (size + kChunk - 1) / kChunk);
      for (size_t k = 0; k + 1 < run.sizes.size(); ++k) CHECK(run.sizes[k] == kChunk);
    }
  }
}

TEST_CASE("a receiver that goes away stops the pump") {
  const std::string content = random_bytes(20 * kChunk);
  const Run run = pump(content, {.fail_at = 3});
  CHECK(run.outcome.result == PumpResult::cancelled);
  CHECK(run.sizes.size() == 3);
  CHECK(run.outcome.bytes < content.size());
}

TEST_CASE("a file shorter than announced is a read error, not a hang") {
  const std::string content = random_bytes(kChunk + 10);
  const Run run = pump(content, {.length = 5 * kChunk});
  CHECK(run.outcome.result == PumpResult::read_error);
  CHECK(run.outcome.message.find("shrank") != std::string::npos);
}

TEST_CASE("a range sends exactly its bytes, from any offset, in chunk-size pieces") {
  const std::string content = random_bytes(3 * kChunk + 7);
  for (uint64_t offset : {uint64_t{0}, uint64_t{1}, kChunk - 1, kChunk, 2 * kChunk + 3}) {
    for (uint64_t length : {uint64_t{1}, kChunk, kChunk + 1, content.size() - offset}) {
      if (offset + length > content.size()) continue;
      CAPTURE(offset);
      CAPTURE(length);
      const Run run = pump(content, {.offset = offset, .length = length});
      CHECK(run.outcome.result == PumpResult::done);
      CHECK(run.outcome.bytes == length);
      CHECK(run.received == content.substr(offset, length));
      CHECK(run.sizes.front() == std::min<uint64_t>(length, kChunk));
    }
  }
}

TEST_CASE("a rate limit makes the pump wait on a timer, and the bytes stay the same") {
  const std::string content = random_bytes(4 * kChunk);
  // The burst (one chunk) goes at once; the other three take ~15.6 ms each at 4 MiB/s.
  TokenBucket bucket(4 * 1024 * 1024, kChunk);
  const auto start = std::chrono::steady_clock::now();
  const Run run = pump(content, {.pace = &bucket});
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(run.outcome.result == PumpResult::done);
  CHECK(run.received == content);
  CHECK(run.outcome.paced > std::chrono::steady_clock::duration::zero());
  // A lower bound only (a loaded machine may take longer): 3 chunks at the rate.
  CHECK(took >= std::chrono::microseconds(3 * 15625 - 100));
}

TEST_CASE("a stop during a rate-limit wait ends the stream without waiting it out") {
  const std::string content = random_bytes(4 * kChunk);
  TokenBucket bucket(1024);  // the second chunk alone would wait a minute
  std::atomic<bool> stop{false};
  const Run run = pump(content, {.pace = &bucket, .stop = &stop, .stop_when_sent = true});
  CHECK(run.outcome.result == PumpResult::cancelled);
  CHECK(run.received == content.substr(0, kChunk));
}

TEST_CASE("the queue chains sends and wakes the filler only when half the buffers are free") {
  asio::io_context ctx;
  ChunkQueue q(ctx.get_executor(), 4, kChunk);
  std::vector<int> got;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        for (int k = 0; k < 4; ++k) got.push_back(co_await q.acquire());
      },
      [](std::exception_ptr) {});
  ctx.run();
  REQUIRE(got.size() == 4);
  CHECK(q.submit(got[0], 1) == got[0]);  // the sender was idle: start it
  CHECK(q.submit(got[1], 2) == -1);      // busy: it will chain by itself
  CHECK(q.submit(got[2], 3) == -1);
  CHECK(q.filled(got[1]).size() == 2);
  CHECK(q.sent(true) == got[1]);
  CHECK(q.sent(true) == got[2]);
  CHECK(q.sent(true) == -1);  // nothing left to send
  CHECK(q.submit(got[3], 4) == got[3]);
  CHECK(q.sent(false) == -1);  // a failed send ends the stream
  bool acquired_after_failure = true;
  ctx.restart();
  asio::co_spawn(
      ctx, [&]() -> asio::awaitable<void> { acquired_after_failure = co_await q.acquire() >= 0; },
      [](std::exception_ptr) {});
  ctx.run();
  CHECK_FALSE(acquired_after_failure);
}

TEST_CASE("a sent buffer is reused only once the sender released it") {
  asio::io_context ctx;
  ChunkQueue q(ctx.get_executor(), 2, kChunk);
  std::vector<int> got;
  const auto take = [&] {
    asio::co_spawn(
        ctx, [&]() -> asio::awaitable<void> { got.push_back(co_await q.acquire()); },
        [](std::exception_ptr) {});
  };
  take();
  take();
  ctx.run();
  REQUIRE(got.size() == 2);
  CHECK(q.submit(got[0], kChunk) == got[0]);
  CHECK(q.submit(got[1], kChunk) == -1);
  CHECK(q.sent(true) == got[1]);
  CHECK(q.sent(true) == -1);
  // Both sent, both still held (gRPC keeps a slice over each): the filler waits.
  take();
  ctx.restart();
  ctx.run_for(std::chrono::milliseconds(20));
  CHECK(got.size() == 2);
  q.release(got[1]);
  ctx.restart();
  ctx.run();
  REQUIRE(got.size() == 3);
  CHECK(got[2] == got[1]);
}

TEST_CASE("the receive queue reads ahead while buffers are free and hands out batches in order") {
  asio::io_context ctx;
  ReceiveQueue q(ctx.get_executor(), 4);
  const int first = q.start();
  std::vector<int> order{first};
  int next = q.received(true);  // the first message arrived; read on into a free buffer
  REQUIRE(next >= 0);
  order.push_back(next);
  next = q.received(true);
  order.push_back(next);
  next = q.received(true);
  order.push_back(next);
  CHECK(q.received(true) == -1);  // all four filled: the receiver stalls
  std::vector<int> batch;
  asio::co_spawn(
      ctx, [&]() -> asio::awaitable<void> { batch = co_await q.take(); },
      [](std::exception_ptr) {});
  ctx.run();
  CHECK(batch == order);
  const int restart = q.release(batch);  // the stalled receiver gets a buffer back
  CHECK(restart >= 0);
  CHECK(q.received(false) == -1);  // the stream ends
  std::vector<int> last{99};
  ctx.restart();
  asio::co_spawn(
      ctx, [&]() -> asio::awaitable<void> { last = co_await q.take(); }, [](std::exception_ptr) {});
  ctx.run();
  CHECK(last.empty());
}
