#include <doctest/doctest.h>

#include <string>

#include "discovery/holder_record.hpp"

using namespace p2p;

namespace {

const std::string kSha(64, 'a');

HolderRecord sample() {
  return {"http://127.0.0.1:8001", "127.0.0.1:50051", "Informe Final.pdf", 12345, kSha};
}

}  // namespace

TEST_CASE("a record survives its encoding, and stays small") {
  const HolderRecord r = sample();
  const std::string bytes = encode_record(r);
  CHECK(bytes.size() < 200);
  CHECK(decode_record(bytes) == r);
  HolderRecord unhashed = r;
  unhashed.sha256.clear();
  CHECK(decode_record(encode_record(unhashed)) == unhashed);
  HolderRecord v6 = r;
  v6.url = "http://[::1]:8001";
  v6.grpc_address = "[::1]:50051";
  CHECK(decode_record(encode_record(v6)) == v6);
}

TEST_CASE("a sha256 in capitals is read in lowercase") {
  HolderRecord r = sample();
  r.sha256 = std::string(64, 'A');
  CHECK(decode_record(encode_record(r))->sha256 == kSha);
}

TEST_CASE("a value that is not a usable holder is refused, saying why") {
  const auto refused = [](const std::string& bytes) {
    const auto r = decode_record(bytes);
    return r ? std::string() : r.error().why;
  };
  CHECK(refused("not json").find("JSON") != std::string::npos);
  CHECK(refused("[]").find("JSON object") != std::string::npos);
  CHECK(refused(R"({"u":"http://a:1","g":"a:2","n":"x"})").find("lacks") != std::string::npos);
  CHECK(refused(R"({"u":"http://a:1","g":"a:2","n":"x","s":"7"})").find("lacks") !=
        std::string::npos);
  CHECK(refused(R"({"u":"http://a:1","g":"a:2","n":"x","s":-1})").find("negative") !=
        std::string::npos);
  CHECK(refused(R"({"u":"http://a:1","g":"a:2","n":"x","s":1,"h":5})").find("lacks") !=
        std::string::npos);
  CHECK(refused(R"({"u":"ftp://a:1","g":"a:2","n":"x","s":1})").find("url") != std::string::npos);
  CHECK(refused(R"({"u":"http://0.0.0.0:1","g":"a:2","n":"x","s":1})").find("url") !=
        std::string::npos);
  for (const char* grpc : {"a", "a:0", "0.0.0.0:5", "a:5/x", "a:99999", ":5", "a:5 "})
    CHECK_MESSAGE(refused(std::string(R"({"u":"http://a:1","g":")") + grpc + R"(","n":"x","s":1})")
                          .find("grpc") != std::string::npos,
                  grpc);
  for (const char* name : {"..", "a/b", "", " "})
    CHECK_MESSAGE(
        refused(std::string(R"({"u":"http://a:1","g":"a:2","n":")") + name + R"(","s":1})")
                .find("name") != std::string::npos,
        name);
  CHECK(refused(R"({"u":"http://a:1","g":"a:2","n":"x","s":1,"h":"abc"})").find("sha256") !=
        std::string::npos);
  CHECK(refused(std::string(2000, ' ')).find("1 KiB") != std::string::npos);
}

TEST_CASE("names meet on their lookup key; contents on lowercase hex") {
  CHECK(name_key_string(" Informe.PDF ") == name_key_string("informe.pdf"));
  CHECK(name_key_string("a.txt") != name_key_string("b.txt"));
  CHECK(sha256_key_string(std::string(64, 'A')) == sha256_key_string(kSha));
  CHECK(name_key_string(kSha) != sha256_key_string(kSha));
}
