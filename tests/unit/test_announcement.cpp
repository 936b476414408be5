#include <doctest/doctest.h>

#include "search/announcement.hpp"

using namespace p2p;

TEST_CASE("announcements: parsed, rejected, and built as they are parsed") {
  auto a = parse_announcement(
      R"({"url":"http://0.0.0.0:8004","grpc_address":"0.0.0.0:50054","name":"P4","id":"x"})");
  REQUIRE(a);
  CHECK(a->url == "http://0.0.0.0:8004");
  CHECK(a->grpc_address == "0.0.0.0:50054");
  CHECK(a->name == "P4");
  CHECK(a->id == "x");
  const auto no_url = parse_announcement(R"({"name":"P4"})");
  REQUIRE_FALSE(no_url);
  CHECK(no_url.error().why.find("url") != std::string::npos);
  CHECK_FALSE(parse_announcement(R"({"url":5})"));
  CHECK_FALSE(parse_announcement("[]"));

  const Announcement ours{"https://10.0.0.1:8001", "10.0.0.1:50051", "Peer1", "abc"};
  CHECK(announcement_body(ours) ==
        R"({"url":"https://10.0.0.1:8001","grpc_address":"10.0.0.1:50051","name":"Peer1",)"
        R"("id":"abc"})");
  auto back = parse_announcement(announcement_body(ours));
  REQUIRE(back);
  CHECK(back->url == ours.url);
  CHECK(back->grpc_address == ours.grpc_address);
  CHECK(back->name == ours.name);
  CHECK(back->id == ours.id);
}

TEST_CASE("announcements carry the DHT port when there is one") {
  const Announcement with{"http://10.0.0.1:8001", "10.0.0.1:50051", "Peer1", "abc", 4222};
  CHECK(announcement_body(with).find(R"("dht_port":4222)") != std::string::npos);
  const auto back = parse_announcement(announcement_body(with));
  REQUIRE(back);
  CHECK(back->dht_port == 4222);
  CHECK(parse_announcement(R"({"url":"http://a:1"})")->dht_port == 0);
  for (const char* bad :
       {R"({"url":"http://a:1","dht_port":"4222"})", R"({"url":"http://a:1","dht_port":70000})",
        R"({"url":"http://a:1","dht_port":-1})"}) {
    const auto r = parse_announcement(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().why.find("dht_port") != std::string::npos);
  }
}
