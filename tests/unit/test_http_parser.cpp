#include <doctest/doctest.h>

#include <string>

#include "http/message.hpp"
#include "http/request_parser.hpp"

using namespace p2p::http;
using State = RequestParser::State;

TEST_CASE("one request") {
  RequestParser p;
  const std::string raw = "GET /buscar?archivo=a%20b HTTP/1.1\r\nHost: x\r\n\r\n";
  auto r = p.feed(raw);
  REQUIRE(r.state == State::request_ready);
  CHECK(r.consumed == raw.size());
  CHECK(p.request().method == "GET");
  CHECK(p.request().path() == "/buscar");
  CHECK(p.request().query() == "archivo=a%20b");
  CHECK(p.request().keep_alive);
}

TEST_CASE("pipelined requests come out one at a time") {
  RequestParser p;
  std::string raw = "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n";
  std::string_view data = raw;
  std::string seen;
  for (int i = 0; i < 3; ++i) {
    auto r = p.feed(data);
    REQUIRE(r.state == State::request_ready);
    seen += p.request().target;
    data.remove_prefix(r.consumed);
  }
  CHECK(seen == "/a/b/c");
  CHECK(data.empty());
}

TEST_CASE("a request split across reads") {
  RequestParser p;
  auto r = p.feed("GET /lis");
  CHECK(r.state == State::need_more);
  CHECK(p.mid_request());
  r = p.feed("tado HTTP/1.1\r\nHost: x\r\n");
  CHECK(r.state == State::need_more);
  r = p.feed("\r\n");
  REQUIRE(r.state == State::request_ready);
  CHECK(p.request().target == "/listado");
  CHECK_FALSE(p.mid_request());
}

TEST_CASE("Connection: close and HTTP/1.0") {
  RequestParser p;
  REQUIRE(p.feed("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").state == State::request_ready);
  CHECK_FALSE(p.request().keep_alive);
  RequestParser q;
  REQUIRE(q.feed("GET / HTTP/1.0\r\n\r\n").state == State::request_ready);
  CHECK_FALSE(q.request().keep_alive);
  CHECK(q.request().http_minor == 0);
}

TEST_CASE("a request line without a version (HTTP/0.9) is refused with 400") {
  for (const std::string raw : {"GET /listado\r\n\r\n", "GET /listado\n\n"}) {
    RequestParser p;
    const auto r = p.feed(raw);
    CHECK(r.state == State::error);
    CHECK(p.error_status() == 400);
    CHECK(p.error_message().find("HTTP version") != std::string::npos);
  }
  // An explicit HTTP/1.0 still is a request.
  RequestParser p;
  CHECK(p.feed("GET /listado HTTP/1.0\r\n\r\n").state == State::request_ready);
}

TEST_CASE("limits") {
  SUBCASE("a long target is 414") {
    RequestParser p;
    auto r = p.feed("GET /" + std::string(17 * 1024, 'a') + " HTTP/1.1\r\n\r\n");
    CHECK(r.state == State::error);
    CHECK(p.error_status() == 414);
  }
  SUBCASE("large headers are 431") {
    RequestParser p;
    auto r = p.feed("GET / HTTP/1.1\r\nX-Big: " + std::string(20 * 1024, 'a') + "\r\n\r\n");
    CHECK(r.state == State::error);
    CHECK(p.error_status() == 431);
  }
  SUBCASE("many small headers are 431 too") {
    RequestParser p;
    std::string raw = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < 2000; ++i) raw += "X-" + std::to_string(i) + ": v\r\n";
    CHECK(p.feed(raw).state == State::error);
    CHECK(p.error_status() == 431);
  }
  SUBCASE("a body on GET is 400") {
    RequestParser p;
    CHECK(p.feed("GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc").state == State::error);
    CHECK(p.error_status() == 400);
  }
  SUBCASE("a POST body is read, within its limit") {
    RequestParser p;
    REQUIRE(p.feed("POST /peers HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc").state ==
            State::request_ready);
    CHECK(p.request().body == "abc");
    RequestParser q(ParserLimits{.max_header_bytes = 1024, .max_body_bytes = 2});
    CHECK(q.feed("POST /peers HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc").state == State::error);
    CHECK(q.error_status() == 413);
  }
  SUBCASE("garbage is 400") {
    RequestParser p;
    CHECK(p.feed("HELLO\r\n\r\n").state == State::error);
    CHECK(p.error_status() == 400);
  }
}

TEST_CASE("responses serialise with length and JSON type") {
  std::string out;
  Response r = json_error(404, "no such route");
  serialize(r, nullptr, false, out);
  CHECK(out.starts_with("HTTP/1.1 404 Not Found\r\n"));
  CHECK(out.find("Content-Type: application/json\r\n") != std::string::npos);
  CHECK(out.find("Content-Length: " + std::to_string(r.body.size()) + "\r\n") != std::string::npos);
  CHECK(out.ends_with("\r\n\r\n{\"error\":\"no such route\"}"));
}

TEST_CASE("the headers routes read are kept, whatever their case; others are skipped") {
  RequestParser p;
  const std::string raw =
      "GET /archivos/a HTTP/1.1\r\nHost: x\r\nrAnGe: bytes=0-1\r\nIf-None-Match: \"a\"\r\n"
      "X-Other: y\r\nIf-None-Match: \"b\"\r\nAuthorization: Bearer t\r\n\r\n";
  REQUIRE(p.feed(raw).state == State::request_ready);
  const Request& req = p.request();
  CHECK(req.header(Header::range) == "bytes=0-1");
  CHECK(req.header(Header::if_none_match) == "\"a\", \"b\"");
  CHECK(req.header(Header::authorization) == "Bearer t");
  CHECK(req.header(Header::if_range).empty());
  // The next request starts with none of them.
  REQUIRE(p.feed("GET / HTTP/1.1\r\n\r\n").state == State::request_ready);
  CHECK(p.request().header(Header::range).empty());
  CHECK(p.request().header(Header::authorization).empty());
}

TEST_CASE("a header name split across reads is still recognised") {
  RequestParser p;
  CHECK(p.feed("GET / HTTP/1.1\r\nRa").state == State::need_more);
  CHECK(p.feed("nge: bytes=").state == State::need_more);
  REQUIRE(p.feed("5-\r\n\r\n").state == State::request_ready);
  CHECK(p.request().header(Header::range) == "bytes=5-");
}

// Feeds a streamed body through feed_body in pieces of `step` bytes into one buffer.
static std::string stream_body(RequestParser& p, std::string_view data, size_t step,
                               std::string_view* rest) {
  std::string body;
  char out[64];
  for (;;) {
    auto r = p.feed_body(data.substr(0, step), out, sizeof out);
    REQUIRE(r.state != State::error);
    body.append(out, r.body_bytes);
    data.remove_prefix(r.consumed);
    if (r.state == State::request_ready) break;
    REQUIRE(!data.empty());
  }
  *rest = data;
  return body;
}

TEST_CASE("a PUT stops after its headers; its body comes out of feed_body, then the next request") {
  for (size_t step : {1, 3, 7, 64}) {
    CAPTURE(step);
    RequestParser p;
    const std::string raw =
        "PUT /archivos/a HTTP/1.1\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n"
        "hello world"
        "GET /b HTTP/1.1\r\n\r\n";
    std::string_view data = raw;
    auto r = p.feed(data);
    REQUIRE(r.state == State::headers_ready);
    CHECK(p.request().method == "PUT");
    CHECK(p.request().content_length == 11u);
    CHECK(p.request().header(Header::expect) == "100-continue");
    CHECK(p.request().body.empty());
    data.remove_prefix(r.consumed);
    CHECK(stream_body(p, data, step, &data) == "hello world");
    r = p.feed(data);
    REQUIRE(r.state == State::request_ready);
    CHECK(p.request().target == "/b");
  }
}

TEST_CASE("a chunked PUT's body comes out without its framing, in place") {
  RequestParser p;
  const std::string head = "PUT /archivos/a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  REQUIRE(p.feed(head).state == State::headers_ready);
  CHECK_FALSE(p.request().content_length);
  // In place: the bytes read from the socket are where the body goes.
  std::string buf = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET /n HTTP/1.1\r\n\r\n";
  auto r = p.feed_body(buf, buf.data(), buf.size());
  REQUIRE(r.state == State::request_ready);
  CHECK(buf.substr(0, r.body_bytes) == "hello world");
  CHECK(buf.substr(r.consumed) == "GET /n HTTP/1.1\r\n\r\n");
}

TEST_CASE("a PUT without a body is an ordinary request") {
  RequestParser p;
  REQUIRE(p.feed("PUT /archivos/a HTTP/1.1\r\nContent-Length: 0\r\n\r\n").state ==
          State::request_ready);
  CHECK(p.request().content_length == 0u);
}

TEST_CASE("a malformed streamed body is an error") {
  RequestParser p;
  REQUIRE(p.feed("PUT /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").state ==
          State::headers_ready);
  char out[64];
  CHECK(p.feed_body("zz\r\n", out, sizeof out).state == State::error);
}

TEST_CASE("a 304 carries neither body nor length; extra headers are written as given") {
  std::string out;
  Response r;
  r.status = 304;
  r.body = "ignored";
  r.headers = "ETag: \"x\"\r\n";
  serialize(r, nullptr, false, out);
  CHECK(out ==
        "HTTP/1.1 304 Not Modified\r\nServer: p2p-share\r\n"
        "X-Content-Type-Options: nosniff\r\nETag: \"x\"\r\n\r\n");
}
