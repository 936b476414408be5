#include <doctest/doctest.h>

#include <string>

#include "cli/holders.hpp"

using namespace p2p::cli;

namespace {

const std::string kA(64, 'a'), kB(64, 'b'), kC(64, 'c');

Holder h(int port, const std::string& sha) {
  return {"127.0.0.1:" + std::to_string(port), "f.bin", sha};
}

std::vector<std::string> addresses(const ContentChoice& c) {
  std::vector<std::string> out;
  for (const auto& x : c.holders) out.push_back(x.grpc_address);
  return out;
}

}  // namespace

TEST_CASE("holders that agree: all of them, no warning") {
  auto c = choose_content({h(1, kA), h(2, kA), h(3, kA)}, "");
  REQUIRE(c.ok());
  CHECK(c->sha256 == kA);
  CHECK(addresses(*c) == std::vector<std::string>{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"});
  CHECK(c->others.empty());
  CHECK(disagreement(*c).empty());
}

TEST_CASE("holders that disagree: the content most hold wins, the others in one warning") {
  auto c = choose_content({h(1, kB), h(2, kA), h(3, kA), h(4, kC), h(5, kB), h(6, kA)}, "");
  REQUIRE(c.ok());
  CHECK(c->sha256 == kA);
  CHECK(addresses(*c) == std::vector<std::string>{"127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:6"});
  REQUIRE(c->others.size() == 2);
  CHECK(c->others[0].sha256 == kB);
  CHECK(c->others[0].holders == 2);
  CHECK(disagreement(*c) == "3 holders have a different file under this name: sha256 " + kB +
                                " (2), " + kC + " (1); use --sha256 to choose");
  auto one = choose_content({h(1, kA), h(2, kA), h(3, kB)}, "");
  REQUIRE(one.ok());
  CHECK(disagreement(*one) ==
        "1 holder has a different file under this name: sha256 " + kB + "; use --sha256 to choose");
}

TEST_CASE("a tie goes to the content found first (the nearest holder)") {
  auto c = choose_content({h(1, kB), h(2, kA), h(3, kA), h(4, kB)}, "");
  REQUIRE(c.ok());
  CHECK(c->sha256 == kB);
}

TEST_CASE("--sha256 keeps the holders of that content, in any case; none: a clear failure") {
  std::string upper = kB;
  for (char& ch : upper) ch = 'B';
  auto c = choose_content({h(1, kA), h(2, kA), h(3, kB)}, upper);
  REQUIRE(c.ok());
  CHECK(c->sha256 == kB);
  CHECK(addresses(*c) == std::vector<std::string>{"127.0.0.1:3"});
  CHECK(c->others.size() == 1);
  auto none = choose_content({h(1, kA), h(2, kB)}, kC);
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().why ==
        "no holder found has sha256 " + kC + "; the holders found have " + kA + ", " + kB);
  CHECK_FALSE(choose_content({h(1, "")}, kC).ok());
}

TEST_CASE("unhashed holders: used only when nobody has hashed the file") {
  auto c = choose_content({h(1, ""), h(2, "")}, "");
  REQUIRE(c.ok());
  CHECK(c->sha256.empty());
  CHECK(c->holders.size() == 2);
  auto hashed = choose_content({h(1, ""), h(2, kA)}, "");
  REQUIRE(hashed.ok());
  CHECK(hashed->sha256 == kA);
  CHECK(addresses(*hashed) == std::vector<std::string>{"127.0.0.1:2"});
}

TEST_CASE("a holder without an address is skipped; one address counts once") {
  auto c = choose_content({{"", "f.bin", kB}, h(1, kA), h(1, kA), {"", "f.bin", kB}}, "");
  REQUIRE(c.ok());
  CHECK(c->sha256 == kA);
  CHECK(c->holders.size() == 1);
  CHECK(c->others.empty());
  auto nobody = choose_content({{"", "f.bin", ""}}, "");
  REQUIRE(nobody.ok());
  CHECK(nobody->holders.empty());
}
