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
  CHECK(file_name_problem("a/b").find('/') != std::string_view::npos);
  CHECK(file_name_problem("").find("empty") != std::string_view::npos);
  CHECK(file_name_problem("ok").empty());
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
