#include <doctest/doctest.h>

#include "core/uri.hpp"

using namespace p2p;

TEST_CASE("file URIs are percent-encoded") {
  CHECK(file_uri("/srv/share/a.txt") == "file:///srv/share/a.txt");
  CHECK(file_uri("/srv/my share/ñ.txt") == "file:///srv/my%20share/%C3%B1.txt");
  CHECK(file_uri("/a/100%#?.txt") == "file:///a/100%25%23%3F.txt");
}

TEST_CASE("percent decoding") {
  CHECK(percent_decode("a%20b") == "a b");
  CHECK(percent_decode("a+b") == "a b");
  CHECK(percent_decode("%C3%B1") == "ñ");
  CHECK(percent_decode("%2e%2E%2F") == "../");
  CHECK(percent_decode("plain") == "plain");
  CHECK(percent_decode("") == "");
  CHECK_FALSE(percent_decode("%").ok());
  CHECK_FALSE(percent_decode("%2").ok());
  CHECK_FALSE(percent_decode("%zz").ok());
  CHECK_FALSE(percent_decode("ab%4").ok());
  CHECK(percent_decode("%G1").error().why.find("two hex digits") != std::string::npos);
}

TEST_CASE("query values") {
  CHECK(query_value("archivo=doc.txt", "archivo") == "doc.txt");
  CHECK(query_value("x=1&archivo=a%20b&archivo=second", "archivo") == "a b");
  CHECK(query_value("archivo=", "archivo") == "");
  CHECK(query_value("archivo", "archivo") == "");
  REQUIRE(query_value("archivos=x", "archivo").ok());
  CHECK_FALSE(query_value("archivos=x", "archivo")->has_value());
  CHECK_FALSE(query_value("", "archivo")->has_value());
  const auto malformed = query_value("archivo=%G1", "archivo");
  REQUIRE_FALSE(malformed.ok());
  CHECK(malformed.error().why.find('%') != std::string::npos);
  // Only the first value counts, so a malformed later one does not matter.
  CHECK(query_value("archivo=a&archivo=%G1", "archivo") == "a");
}

TEST_CASE("query values, every one") {
  CHECK(query_values("exclude=a&x=1&exclude=b%20c", "exclude") ==
        std::vector<std::string>{"a", "b c"});
  CHECK(query_values("exclude=%G1&exclude=ok", "exclude") == std::vector<std::string>{"ok"});
  CHECK(query_values("x=1", "exclude").empty());
}

TEST_CASE("peer URLs") {
  auto u = parse_http_url("http://127.0.0.1:8002");
  REQUIRE(u);
  CHECK(u->host == "127.0.0.1");
  CHECK(u->port == 8002);
  CHECK(u->str() == "http://127.0.0.1:8002");
  CHECK(parse_http_url("http://peer2/")->port == 80);
  CHECK(parse_http_url("https://peer2")->port == 443);
  auto v6 = parse_http_url("http://[::1]:9000");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->str() == "http://[::1]:9000");
  const auto ftp = parse_http_url("ftp://x:1");
  REQUIRE_FALSE(ftp);
  CHECK(ftp.error().why.find("http://") != std::string::npos);
  CHECK_FALSE(parse_http_url("http://:80"));
  CHECK_FALSE(parse_http_url("http://h:0"));
  CHECK_FALSE(parse_http_url("http://h:65536"));
  CHECK_FALSE(parse_http_url("http://h:80x"));
  CHECK_FALSE(parse_http_url("http://h:"));
  CHECK_FALSE(parse_http_url("http://h:80/path"));
  CHECK_FALSE(parse_http_url("http://::1:80"));
}

TEST_CASE("host_port brackets IPv6") {
  CHECK(host_port("10.0.0.1", 5) == "10.0.0.1:5");
  CHECK(host_port("::1", 5) == "[::1]:5");
}

TEST_CASE("wildcard hosts are replaced by a reachable one") {
  CHECK(is_wildcard_host("0.0.0.0"));
  CHECK(is_wildcard_host("::"));
  CHECK_FALSE(is_wildcard_host("127.0.0.1"));
  CHECK(replace_wildcard_host("0.0.0.0:50052", "10.0.0.2") == "10.0.0.2:50052");
  CHECK(replace_wildcard_host("[::]:50052", "::1") == "[::1]:50052");
  CHECK(replace_wildcard_host("10.0.0.9:50052", "10.0.0.2") == "10.0.0.9:50052");
  CHECK(replace_wildcard_host("nonsense", "h") == "nonsense");
}

TEST_CASE("host:port exactly, as gRPC addresses and DHT nodes are given") {
  CHECK(parse_host_port("10.0.0.2:4222")->port == 4222);
  CHECK(parse_host_port("[::1]:50051")->host == "::1");
  CHECK(parse_host_port("peer1:8001")->host == "peer1");
  for (const char* bad : {"a", "a:0", "a:99999", ":5", "a:5/x", "a:5 ", "http://a:5", ""})
    CHECK_MESSAGE(parse_host_port(bad).error().why.find("is not host:port") != std::string::npos,
                  bad);
}

TEST_CASE("a path segment decodes '+' as itself") {
  CHECK(*p2p::percent_decode_path("a+b%20c") == "a+b c");
  CHECK_FALSE(static_cast<bool>(p2p::percent_decode_path("a%2")));
}
