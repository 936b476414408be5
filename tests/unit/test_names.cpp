#include <doctest/doctest.h>

#include <string>

#include "core/names.hpp"

using namespace p2p;

TEST_CASE("valid names") {
  CHECK(valid_file_name("a"));
  CHECK(valid_file_name("documento1.txt"));
  CHECK(valid_file_name("a b.txt"));
  CHECK(valid_file_name(".hidden"));
  CHECK(valid_file_name("..."));
  CHECK(valid_file_name("ñandú – résumé.pdf"));
  CHECK(valid_file_name("日本語.txt"));
  CHECK(valid_file_name("emoji-\xF0\x9F\x98\x80.png"));
  CHECK(valid_file_name(std::string(255, 'x')));
}

TEST_CASE("invalid names") {
  CHECK_FALSE(valid_file_name(""));
  CHECK_FALSE(valid_file_name("."));
  CHECK_FALSE(valid_file_name(".."));
  CHECK_FALSE(valid_file_name("a/b"));
  CHECK_FALSE(valid_file_name("../x"));
  CHECK_FALSE(valid_file_name("/etc/passwd"));
  CHECK_FALSE(valid_file_name("..\\x"));
  CHECK_FALSE(valid_file_name(std::string("a\0b", 3)));
  CHECK_FALSE(valid_file_name("a\nb"));
  CHECK_FALSE(valid_file_name("a\tb"));
  CHECK_FALSE(valid_file_name("a\x7f"));
  CHECK_FALSE(valid_file_name("a\xC2\x85"));  // U+0085, a C1 control
  CHECK_FALSE(valid_file_name(std::string(256, 'x')));
  CHECK_FALSE(valid_file_name("\xff"));              // not UTF-8 at all
  CHECK_FALSE(valid_file_name("\xC3"));              // truncated
  CHECK_FALSE(valid_file_name("\xC0\xAF"));          // overlong '/'
  CHECK_FALSE(valid_file_name("\xE0\x80\xAF"));      // overlong, 3 bytes
  CHECK_FALSE(valid_file_name("\xED\xA0\x80"));      // surrogate
  CHECK_FALSE(valid_file_name("\xF4\x90\x80\x80"));  // above U+10FFFF
}

TEST_CASE("problem text names the rule") {
  CHECK(check_file_name("a/b").error().why.find('/') != std::string::npos);
  CHECK(check_file_name("").error().why.find("empty") != std::string::npos);
  CHECK(check_file_name("ok").ok());
}

TEST_CASE("name keys: trimmed, ASCII case-insensitive, exact") {
  CHECK(name_key("  Documento1.TXT \t") == "documento1.txt");
  // Only ASCII letters fold; Ñ and Ú stay as they are.
  CHECK(name_key("ÑANDÚ.txt") == "ÑandÚ.txt");
  CHECK(name_key("abc") != name_key("abcd"));
  CHECK(trim("   ").empty());
}

TEST_CASE("temporary names") {
  CHECK(is_temp_name(std::string(kTempPrefix) + "x"));
  CHECK_FALSE(is_temp_name("x.p2p-tmp-"));
}

namespace {

const std::string kTemp = std::string(kTempPrefix) + "0123";

// The kind of refusal, or "admitted as <name>".
std::string admission(std::string_view raw, NameUse use) {
  const auto r = admit_name(raw, use);
  if (r) return "admitted as '" + *r + "'";
  return r.error().kind == NameProblem::hidden ? "hidden" : "invalid";
}

}  // namespace

TEST_CASE("admit_name, lookup (REST /buscar): trimmed, then validated; temporaries pass") {
  CHECK(admission("  Doc.TXT\t", NameUse::lookup) == "admitted as 'Doc.TXT'");
  CHECK(admission("   ", NameUse::lookup) == "invalid");
  CHECK(admission(" a/b ", NameUse::lookup) == "invalid");
  // The index never holds a temporary, so such a lookup is simply a miss.
  CHECK(admission(kTemp, NameUse::lookup) == "admitted as '" + kTemp + "'");
  CHECK(admit_name("..", NameUse::lookup).error().why.find("'..'") != std::string::npos);
}

TEST_CASE("admit_name, ask (the client's query): as typed") {
  CHECK(admission("Doc.txt", NameUse::ask) == "admitted as 'Doc.txt'");
  CHECK(admission(" Doc.txt ", NameUse::ask) == "admitted as ' Doc.txt '");
  CHECK(admission("a/b", NameUse::ask) == "invalid");
  CHECK(admission(kTemp, NameUse::ask) == "admitted as '" + kTemp + "'");
}

TEST_CASE("admit_name, serve (gRPC Download): trimmed; a temporary does not exist") {
  CHECK(admission(" doc.txt ", NameUse::serve) == "admitted as 'doc.txt'");
  CHECK(admission("", NameUse::serve) == "invalid");
  CHECK(admission("../x", NameUse::serve) == "invalid");
  CHECK(admission(" " + kTemp, NameUse::serve) == "hidden");
  CHECK(admit_name(kTemp, NameUse::serve).error().why == "no such file: " + kTemp);
}

TEST_CASE("admit_name, upload (gRPC Upload): exactly as stored, never a temporary") {
  CHECK(admission("doc.txt", NameUse::upload) == "admitted as 'doc.txt'");
  CHECK(admission(" doc.txt", NameUse::upload) == "invalid");
  CHECK(admission("doc.txt\t", NameUse::upload) == "invalid");
  CHECK(admission("a\\b", NameUse::upload) == "invalid");
  CHECK(admission(kTemp, NameUse::upload) == "hidden");
  CHECK(admit_name(" x", NameUse::upload).error().why ==
        "leading or trailing spaces, or a reserved prefix");
}

TEST_CASE("admit_name, save (the client's download) and listed (the index): not temporaries") {
  for (const NameUse use : {NameUse::save, NameUse::listed}) {
    CHECK(admission("doc.txt", use) == "admitted as 'doc.txt'");
    CHECK(admission(" doc.txt ", use) == "admitted as ' doc.txt '");
    CHECK(admission("a/b", use) == "invalid");
    CHECK(admission(std::string(256, 'x'), use) == "invalid");
    CHECK(admission(kTemp, use) == "hidden");
    CHECK(admit_name(kTemp, use).error().why == "reserved prefix");
  }
}

TEST_CASE("a download's part file and record are hidden like temporaries") {
  for (const std::string_view prefix : {kTempPrefix, kPartPrefix, kStatePrefix}) {
    const std::string name = std::string(prefix) + "movie.mkv";
    CHECK(is_temp_name(name));
    CHECK(admission(name, NameUse::listed) == "hidden");
    CHECK(admission(name, NameUse::serve) == "hidden");
    CHECK(admission(name, NameUse::upload) == "hidden");
  }
  CHECK_FALSE(is_temp_name("p2p-part-movie.mkv"));
}

TEST_CASE("admit_name: a name that trims to '.' or '..' is refused for every use") {
  // Found by fuzz_query_names ("archivo=+.&"): " ." was admitted as typed and its key was ".".
  for (const NameUse use : {NameUse::lookup, NameUse::ask, NameUse::serve, NameUse::upload,
                            NameUse::save, NameUse::listed}) {
    CHECK(admission(" .", use) == "invalid");
    CHECK(admission(".. ", use) == "invalid");
    CHECK(admission("\t.\t", use) == "invalid");
  }
  CHECK(admission(" .a", NameUse::ask) == "admitted as ' .a'");
}
