#include <doctest/doctest.h>

#include "cli/progress.hpp"

using namespace p2p::cli;

TEST_CASE("parse_rate: SI units, like the sizes p2p prints") {
  CHECK(parse_rate("0") == 0u);
  CHECK(parse_rate("1500") == 1500u);
  CHECK(parse_rate("500k") == 500'000u);
  CHECK(parse_rate("500K") == 500'000u);
  CHECK(parse_rate("10M") == 10'000'000u);
  CHECK(parse_rate("10MB") == 10'000'000u);
  CHECK(parse_rate("10mb/s") == 10'000'000u);
  CHECK(parse_rate("2G") == 2'000'000'000u);
  CHECK(parse_rate("64B") == 64u);
  for (const char* bad :
       {"", "k", "-1", "1.5M", "10X", "10 M", "10Mi", "99999999999999999999", "99999999999G"}) {
    CAPTURE(bad);
    auto r = parse_rate(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().why.find("byte rate") != std::string::npos);
  }
}

TEST_CASE("holder_summary: pieces verified and rejected, bytes, and why it was dropped") {
  p2p::HolderStats s;
  s.label = "127.0.0.1:50051";
  s.pieces_verified = 12;
  s.bytes = 13'000'000;
  CHECK(holder_summary(s) == "127.0.0.1:50051: 12 pieces verified, 0 rejected, 13.0 MB received");
  s.pieces_rejected = 1;
  s.dropped = true;
  s.why_dropped = "sent bad data (piece 3 did not verify)";
  CHECK(holder_summary(s) ==
        "127.0.0.1:50051: 12 pieces verified, 1 rejected, 13.0 MB received; dropped: sent bad "
        "data (piece 3 did not verify)");
}
