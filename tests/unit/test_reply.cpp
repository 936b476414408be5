#include <doctest/doctest.h>

#include "search/reply.hpp"

using namespace p2p;

TEST_CASE("replies: ours, the Python original's, and garbage") {
  auto ours = parse_search_reply(
      R"({"present":true,"grpc_address":"127.0.0.1:50053","filename":"d.txt","size":55})");
  REQUIRE(ours);
  CHECK(ours->present);
  CHECK(ours->grpc_address == "127.0.0.1:50053");
  CHECK(ours->size == 55u);
  auto python = parse_search_reply(R"({"filename":"d.txt","present":true,"peer":"http://p:8000"})");
  REQUIRE(python);
  CHECK(python->grpc_address.empty());
  CHECK(python->peer == "http://p:8000");
  CHECK_FALSE(python->size);
  CHECK(parse_search_reply(R"({"present":false})"));
  CHECK_FALSE(parse_search_reply("not json"));
  const auto no_present = parse_search_reply(R"({"grpc_address":"x"})");
  REQUIRE_FALSE(no_present);
  CHECK(no_present.error().why.find("present") != std::string::npos);
  CHECK_FALSE(parse_search_reply(R"({"present":"yes"})"));
  CHECK_FALSE(parse_search_reply("[]"));
  // Another implementation's fields of other types are passed over, not fatal.
  auto odd = parse_search_reply(R"({"present":true,"size":-1,"grpc_address":7,"extra":[1]})");
  REQUIRE(odd);
  CHECK_FALSE(odd->size);
  CHECK(odd->grpc_address.empty());
}

TEST_CASE("the reply's bytes: a miss is present:false alone, a hit its fields in order") {
  CHECK(search_reply_body({}) == R"({"present":false})");
  CHECK(search_reply_body({false, "", "x", {}, "", ""}) == R"({"present":false})");
  const SearchReply hit{.present = true,
                        .grpc_address = "127.0.0.1:50053",
                        .filename = "d.txt",
                        .size = 55,
                        .via = "http://127.0.0.1:8002",
                        .peer = "P"};
  CHECK(search_reply_body(hit) ==
        R"({"present":true,"filename":"d.txt","grpc_address":"127.0.0.1:50053","size":55,)"
        R"("via":"http://127.0.0.1:8002","peer":"P"})");
  CHECK(search_reply_body({true, "", "d.txt", {}, "", ""}) ==
        R"({"present":true,"filename":"d.txt"})");
  auto back = parse_search_reply(search_reply_body(hit));
  REQUIRE(back);
  CHECK(back->present);
  CHECK(back->grpc_address == hit.grpc_address);
  CHECK(back->filename == hit.filename);
  CHECK(back->size == hit.size);
  CHECK(back->via == hit.via);
  CHECK(back->peer == hit.peer);
}

TEST_CASE("sha256: carried when it is 64 hex digits, dropped otherwise") {
  const std::string hex(64, 'a');
  SearchReply hit{.present = true, .filename = "d.txt", .sha256 = hex};
  const auto body = search_reply_body(hit);
  CHECK(body == R"({"present":true,"filename":"d.txt","sha256":")" + hex + "\"}");
  const auto back = parse_search_reply(body);
  REQUIRE(back.ok());
  CHECK(back->sha256 == hex);
  // Upper case is read as the same digest; anything else is no digest.
  CHECK(
      parse_search_reply(R"({"present":true,"sha256":")" + std::string(64, 'A') + "\"}")->sha256 ==
      hex);
  CHECK(parse_search_reply(R"({"present":true,"sha256":"abc"})")->sha256.empty());
  CHECK(parse_search_reply(R"({"present":true,"sha256":")" + std::string(64, 'g') + "\"}")
            ->sha256.empty());
}

TEST_CASE("holders: listed after the first holder's fields, read back, odd entries dropped") {
  const std::string hex(64, 'b');
  SearchReply hit{.present = true,
                  .grpc_address = "10.0.0.1:50051",
                  .filename = "d.txt",
                  .size = 5,
                  .holders = {{"10.0.0.1:50051", "http://10.0.0.1:8001", 5, hex},
                              {"10.0.0.2:50052", "http://10.0.0.2:8002", {}, ""}}};
  const auto body = search_reply_body(hit);
  CHECK(body ==
        R"({"present":true,"filename":"d.txt","grpc_address":"10.0.0.1:50051","size":5,)"
        R"("holders":[{"grpc_address":"10.0.0.1:50051","url":"http://10.0.0.1:8001","size":5,)"
        R"("sha256":")" +
            hex + R"("},{"grpc_address":"10.0.0.2:50052","url":"http://10.0.0.2:8002"}]})");
  auto back = parse_search_reply(body);
  REQUIRE(back);
  REQUIRE(back->holders.size() == 2);
  CHECK(back->holders[0].grpc_address == "10.0.0.1:50051");
  CHECK(back->holders[0].url == "http://10.0.0.1:8001");
  CHECK(back->holders[0].size == 5u);
  CHECK(back->holders[0].sha256 == hex);
  CHECK_FALSE(back->holders[1].size);
  CHECK(back->holders[1].sha256.empty());
  // Without holders the body is what it always was.
  hit.holders.clear();
  CHECK(search_reply_body(hit) ==
        R"({"present":true,"filename":"d.txt","grpc_address":"10.0.0.1:50051","size":5})");
  // Entries that are not objects, or name no gRPC address, are passed over; so is a
  // "holders" that is not a list.
  back = parse_search_reply(
      R"({"present":true,"holders":[1,"x",{"url":"http://h:1"},{"grpc_address":"h:2","size":-1,)"
      R"("sha256":"zz","extra":{}}]})");
  REQUIRE(back);
  REQUIRE(back->holders.size() == 1);
  CHECK(back->holders[0].grpc_address == "h:2");
  CHECK_FALSE(back->holders[0].size);
  CHECK(back->holders[0].sha256.empty());
  back = parse_search_reply(R"({"present":true,"holders":{"grpc_address":"h:2"}})");
  REQUIRE(back);
  CHECK(back->holders.empty());
  CHECK_FALSE(parse_search_reply(R"({"present":true,"holders":[{"grpc_address":)"));
}
