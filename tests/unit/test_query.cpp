#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <utility>

#include "search/query.hpp"

using namespace p2p;
using namespace std::chrono_literals;

namespace {

// The query string of a target ("/buscar?a=1" -> "a=1").
std::string_view query_of(std::string_view target) { return target.substr(target.find('?') + 1); }

// Why a query string is refused (it must be).
std::string why(std::string_view query) {
  const auto q = parse_search_query(query);
  CHECK_FALSE(q);
  return q ? std::string() : q.error().why;
}

}  // namespace

TEST_CASE("a forwarded query's target carries ttl, qid, budget and exclusions, encoded") {
  const SearchQuery q{"a b.txt", 2, "q1", 1450ms, {"127.0.0.1:5"}};
  CHECK(search_target(q) ==
        "/buscar?archivo=a%20b.txt&ttl=2&qid=q1&budget_ms=1450&exclude=127.0.0.1%3A5");
  auto back = parse_search_query(query_of(search_target(q)));
  REQUIRE(back);
  CHECK(back->name == q.name);
  CHECK(back->ttl == q.ttl);
  CHECK(back->qid == q.qid);
  CHECK(back->budget == q.budget);
  CHECK(back->exclude == q.exclude);
}

TEST_CASE("a client's query names the file and the holders to skip, nothing else") {
  CHECK(search_target({"ñ.txt", {}, {}, {}, {}}) == "/buscar?archivo=%C3%B1.txt");
  CHECK(search_target({"a.txt", {}, {}, {}, {"h:1", "h:2"}}) ==
        "/buscar?archivo=a.txt&exclude=h%3A1&exclude=h%3A2");
  auto q = parse_search_query("archivo=+Doc.txt+");
  REQUIRE(q);
  CHECK(q->name == "Doc.txt");  // trimmed
  CHECK_FALSE(q->ttl);
  CHECK(q->qid.empty());
  CHECK_FALSE(q->budget);
  CHECK(q->exclude.empty());
}

TEST_CASE("bad queries say what to fix") {
  const std::string hex(64, 'a');
  const std::string nonhex(64, 'g');
  const std::string sha_rule = "sha256 must be 64 hex digits (the file's sha256sum)";
  const std::string holders_rule = "holders must be a whole number 1..16";
  const std::string qid_rule = "qid must be 1..64 letters, digits, - or _";
  const std::pair<std::string, std::string> cases[] = {
      {"", "missing query parameter archivo (GET /buscar?archivo=NAME)"},
      {"holders=2", "missing query parameter archivo (GET /buscar?archivo=NAME)"},
      {"archivo=%zz", "the archivo parameter has a malformed %-escape"},
      {"archivo=a&ttl=65", "ttl must be a whole number 0..64"},
      {"archivo=a&ttl=x", "ttl must be a whole number 0..64"},
      {"archivo=a&budget_ms=600001", "budget_ms must be a whole number 0..600000"},
      {"archivo=a&qid=a%20b", qid_rule},
      {"archivo=a&qid=" + std::string(65, 'q'), qid_rule},
      {"archivo=a&holders=0", holders_rule},
      {"archivo=a&holders=17", holders_rule},
      {"archivo=a&holders=", holders_rule},
      {"sha256=abc", sha_rule},
      {"archivo=a&sha256=" + nonhex, sha_rule},
      {"sha256=%zz", "the sha256 parameter has a malformed %-escape"},
  };
  for (const auto& [query, message] : cases) {
    CAPTURE(query);
    CHECK(why(query) == message);
  }
  CHECK(why("archivo=..").find("invalid archivo: ") == 0);
  CHECK(why("archivo=..&sha256=" + hex).find("invalid archivo: ") == 0);
  CHECK(parse_search_query("archivo=a&ttl=64&budget_ms=600000&qid=Ab-_9"));
}

TEST_CASE("holders and sha256 travel in the target, only when asked") {
  const std::string hex(64, 'a');
  SearchQuery q{.name = "a.txt", .holders = 3, .sha256 = hex};
  CHECK(search_target(q) == "/buscar?archivo=a.txt&sha256=" + hex + "&holders=3");
  q.name.clear();  // by content alone
  q.ttl = 1;
  q.exclude = {"h:1"};
  CHECK(search_target(q) == "/buscar?sha256=" + hex + "&ttl=1&exclude=h%3A1&holders=3");
  auto back = parse_search_query(query_of(search_target(q)));
  REQUIRE(back);
  CHECK(back->name.empty());
  CHECK(back->sha256 == hex);
  CHECK(back->holders == 3u);
  CHECK(back->ttl == 1u);
  CHECK(back->exclude == q.exclude);
  // A digest is read in either case and carried in lower case.
  back = parse_search_query("archivo=a.txt&sha256=" + std::string(64, 'A') + "&holders=16");
  REQUIRE(back);
  CHECK(back->name == "a.txt");
  CHECK(back->sha256 == hex);
  CHECK(back->holders == 16u);
  back = parse_search_query("archivo=a.txt");
  REQUIRE(back);
  CHECK_FALSE(back->holders);
  CHECK(back->sha256.empty());
}

TEST_CASE("query ids are fresh") {
  CHECK(new_query_id().size() == 16);
  CHECK(new_query_id() != new_query_id());
}
