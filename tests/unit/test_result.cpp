#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "core/result.hpp"

using namespace p2p;

namespace {

Result<int> parse_digit(char c) {
  if (c < '0' || c > '9') return Problem{"not a digit"};
  return c - '0';
}

Result<std::string> greeting(bool fail) {
  if (fail) return Problem{"no greeting"};
  return "hola";
}

Result<void> check(bool fail) {
  if (fail) return Problem{"check failed"};
  return {};
}

}  // namespace

TEST_CASE("a Result holds a value or the reason it has none") {
  const auto seven = parse_digit('7');
  REQUIRE(seven.ok());
  CHECK(static_cast<bool>(seven));
  CHECK(seven.value() == 7);
  CHECK(*seven == 7);

  const auto bad = parse_digit('x');
  REQUIRE_FALSE(bad.ok());
  CHECK_FALSE(static_cast<bool>(bad));
  CHECK(bad.error().why == "not a digit");
  CHECK(bad.value_or(-1) == -1);
  CHECK(seven.value_or(-1) == 7);
}

TEST_CASE("a Result<std::string> is made from text and from a Problem without ambiguity") {
  auto hola = greeting(false);
  REQUIRE(hola);
  CHECK(hola->size() == 4);
  CHECK(std::move(hola).value() == "hola");
  const auto none = greeting(true);
  REQUIRE_FALSE(none);
  CHECK(none.error().why == "no greeting");
}

TEST_CASE("a Result holds move-only values") {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(3);
  REQUIRE(r);
  const std::unique_ptr<int> p = std::move(r).value();
  CHECK(*p == 3);
}

TEST_CASE("Result<void> is success unless given a Problem") {
  CHECK(check(false).ok());
  const auto failed = check(true);
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().why == "check failed");
}

TEST_CASE("a Result carries another error type when callers branch on its kind") {
  enum class Kind { missing, denied };
  struct Failure {
    Kind kind;
    std::string why;
  };
  Result<int, Failure> r = Failure{Kind::denied, "no"};
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == Kind::denied);
  Result<void, Failure> v;
  CHECK(v.ok());
}
