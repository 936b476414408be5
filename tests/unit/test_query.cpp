#include <doctest/doctest.h>

#include <chrono>

#include "search/query.hpp"

using namespace p2p;
using namespace std::chrono_literals;

namespace {

// The query string of a target ("/buscar?a=1" -> "a=1").
std::string_view query_of(std::string_view target) { return target.substr(target.find('?') + 1); }

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
  const auto why = [](std::string_view query) {
    const auto q = parse_search_query(query);
    CHECK_FALSE(q);
    return q ? std::string() : q.error().why;
  };
  CHECK(why("") == "missing query parameter archivo (GET /buscar?archivo=NAME)");
  CHECK(why("archivo=%zz") == "the archivo parameter has a malformed %-escape");
  CHECK(why("archivo=..").find("invalid archivo: ") == 0);
  CHECK(why("archivo=a&ttl=65") == "ttl must be a whole number 0..64");
  CHECK(why("archivo=a&ttl=x") == "ttl must be a whole number 0..64");
  CHECK(why("archivo=a&budget_ms=600001") == "budget_ms must be a whole number 0..600000");
  CHECK(why("archivo=a&qid=a%20b") == "qid must be 1..64 letters, digits, - or _");
  CHECK(why("archivo=a&qid=" + std::string(65, 'q')) ==
        "qid must be 1..64 letters, digits, - or _");
  CHECK(parse_search_query("archivo=a&ttl=64&budget_ms=600000&qid=Ab-_9"));
}

TEST_CASE("query ids are fresh") {
  CHECK(new_query_id().size() == 16);
  CHECK(new_query_id() != new_query_id());
}
