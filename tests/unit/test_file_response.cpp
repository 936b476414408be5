#include <doctest/doctest.h>

#include <string>

#include "http/file_response.hpp"

using namespace p2p::http;

TEST_CASE("one byte range, at every edge") {
  const uint64_t n = 1000;
  auto part = [&](const char* h, uint64_t first, uint64_t length) {
    INFO(h);
    const ByteRange r = parse_range(h, n);
    CHECK(r.kind == ByteRange::part);
    CHECK(r.first == first);
    CHECK(r.length == length);
  };
  part("bytes=0-0", 0, 1);
  part("bytes=0-999", 0, 1000);
  part("bytes=999-999", 999, 1);
  part("bytes=10-", 10, 990);
  part("bytes=10-5000", 10, 990);  // past the end: clipped
  part("bytes=-1", 999, 1);
  part("bytes=-5000", 0, 1000);  // more than the file: all of it
  part("BYTES=3-4", 3, 2);
}

TEST_CASE("ranges that cannot be served, and ones that are ignored") {
  CHECK(parse_range("bytes=1000-", 1000).kind == ByteRange::unsatisfiable);
  CHECK(parse_range("bytes=2000-3000", 1000).kind == ByteRange::unsatisfiable);
  CHECK(parse_range("bytes=-0", 1000).kind == ByteRange::unsatisfiable);
  CHECK(parse_range("bytes=0-", 0).kind == ByteRange::unsatisfiable);
  CHECK(parse_range("bytes=-5", 0).kind == ByteRange::unsatisfiable);
  for (const char* h : {"", "bytes=5-1", "bytes=a-b", "lines=1-2", "bytes=1", "bytes=--1",
                        "bytes=0-1,3-4", "bytes=99999999999999999999-"}) {
    INFO(h);
    CHECK(parse_range(h, 1000).kind == ByteRange::whole);
  }
}

TEST_CASE("validators") {
  CHECK(http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
  CHECK(http_date(1795000000) == "Wed, 18 Nov 2026 11:06:40 GMT");
  CHECK(none_match_matches("\"abc\"", "\"abc\""));
  CHECK(none_match_matches("W/\"abc\"", "\"abc\""));  // weak comparison
  CHECK(none_match_matches("\"x\", \"abc\"", "\"abc\""));
  CHECK(none_match_matches("*", "\"abc\""));
  CHECK_FALSE(none_match_matches("\"abcd\"", "\"abc\""));
  CHECK(if_range_matches("\"abc\"", "\"abc\"", "date"));
  CHECK_FALSE(if_range_matches("\"abc\"", "W/\"abc\"", "date"));  // strong comparison
  CHECK_FALSE(if_range_matches("W/\"abc\"", "W/\"abc\"", "date"));
  CHECK(if_range_matches("date", "\"abc\"", "date"));
  CHECK_FALSE(if_range_matches("other date", "\"abc\"", "date"));
}

TEST_CASE("the download's name is quoted safely, and exactly in filename*") {
  CHECK(attachment("a.txt") == "attachment; filename=\"a.txt\"; filename*=UTF-8''a.txt");
  CHECK(attachment("ñ \"q\";x%.txt") ==
        "attachment; filename=\"_ _q__x_.txt\"; filename*=UTF-8''%C3%B1%20%22q%22%3Bx%25.txt");
  // Whatever is in the name, the header stays one line.
  CHECK(attachment("a\r\nSet-Cookie: x").find('\n') == std::string::npos);
}

TEST_CASE("media types by extension; nothing a browser would run") {
  CHECK(media_type("a.TXT") == "text/plain; charset=utf-8");
  CHECK(media_type("clip.mp4") == "video/mp4");
  for (const char* n :
       {"page.html", "page.htm", "x.svg", "x.js", "x.xml", "noext", "dot.", ".bashrc"}) {
    INFO(n);
    CHECK(media_type(n) == "application/octet-stream");
  }
}
