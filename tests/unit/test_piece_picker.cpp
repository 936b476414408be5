#include <doctest/doctest.h>

#include <algorithm>

#include "cli/piece_picker.hpp"

using namespace p2p;

TEST_CASE("pieces go out lowest first, each to one holder, until none is idle") {
  PiecePicker p(4);
  CHECK(p.pick(1) == 0u);
  CHECK(p.pick(2) == 1u);
  CHECK(p.pick(1) == 2u);
  CHECK(p.pick(3) == 3u);
  CHECK(p.in_flight(1) == 2);
  CHECK(p.remaining() == 4);
}

TEST_CASE("a resumed download picks only what is missing") {
  PiecePicker p(5, {true, false, true, true, false});
  CHECK(p.remaining() == 2);
  CHECK(p.pick(1) == 1u);
  CHECK(p.pick(1) == 4u);
  p.verified(1, 1);
  p.verified(4, 1);
  CHECK(p.complete());
  CHECK_FALSE(p.pick(1));
}

TEST_CASE("end-game: a second holder may take a piece in flight, never a third") {
  PiecePicker p(2);
  CHECK(p.pick(1) == 0u);
  CHECK(p.pick(1) == 1u);
  // Nothing idle: holder 2 duplicates one of holder 1's pieces, then the other.
  const auto a = p.pick(2);
  const auto b = p.pick(2);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*a != *b);
  CHECK_FALSE(p.pick(2));  // already fetching both
  CHECK_FALSE(p.pick(3));  // two copies of each in flight
  // The first copy to verify wins; the other holder is told to stop.
  const auto others = p.verified(0, 2);
  CHECK(others == std::vector<PiecePicker::Source>{1});
  CHECK(p.verified(0, 1).empty());  // a late copy changes nothing
  CHECK(p.remaining() == 1);
}

TEST_CASE("end-game prefers the piece with the fewest holders") {
  PiecePicker p(3);
  for (int i = 0; i < 3; ++i) p.pick(1);
  CHECK(p.pick(2) == 0u);  // piece 0 now has two holders
  CHECK(p.pick(3) == 1u);  // 1 and 2 have one each: the lowest
}

TEST_CASE("an abandoned piece goes back to the pool; a dropped holder's pieces too") {
  PiecePicker p(3);
  CHECK(p.pick(1) == 0u);
  CHECK(p.pick(1) == 1u);
  CHECK(p.pick(2) == 2u);
  p.abandoned(0, 1);
  CHECK(p.pick(3) == 0u);
  p.drop(1);  // piece 1 returns
  CHECK(p.in_flight(1) == 0);
  CHECK(p.pick(3) == 1u);
  p.verified(0, 3);
  p.verified(1, 3);
  p.verified(2, 2);
  CHECK(p.complete());
}

TEST_CASE("abandoning a piece that another holder still fetches keeps it off the idle pool") {
  PiecePicker p(1);
  CHECK(p.pick(1) == 0u);
  CHECK(p.pick(2) == 0u);  // end-game copy
  p.abandoned(0, 1);
  CHECK_FALSE(p.pick(2));  // holder 2 has it
  CHECK(p.pick(3) == 0u);  // a second copy again
  CHECK(p.verified(0, 3) == std::vector<PiecePicker::Source>{2});
}

TEST_CASE("an empty file is complete at once") {
  PiecePicker p(0);
  CHECK(p.complete());
  CHECK_FALSE(p.pick(1));
}

TEST_CASE("the window grows with a holder's rate, within bounds") {
  constexpr uint64_t MiB = 1 << 20;
  CHECK(piece_window(0, MiB) == 1);
  CHECK(piece_window(1e6, MiB) == 1);
  CHECK(piece_window(100e6, MiB) == 5);
  CHECK(piece_window(1e9, MiB) == 8);
  CHECK(piece_window(200e6, MiB) > piece_window(50e6, MiB));
}
