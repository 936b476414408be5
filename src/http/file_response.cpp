#include "http/file_response.hpp"

#include <array>
#include <charconv>
#include <optional>
#include <utility>

#include "http/message.hpp"

namespace p2p::http {
namespace {

// All digits, fitting 64 bits.
std::optional<uint64_t> number(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string_view opaque(std::string_view tag) {
  if (tag.starts_with("W/")) tag.remove_prefix(2);
  return tag;
}

}  // namespace

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

ByteRange parse_range(std::string_view header, uint64_t size) {
  header = trim_ows(header);
  if (header.empty()) return {};
  constexpr std::string_view kUnit = "bytes=";
  if (header.size() < kUnit.size() || !iequals(header.substr(0, kUnit.size()), kUnit)) return {};
  std::string_view spec = trim_ows(header.substr(kUnit.size()));
  if (spec.find(',') != std::string_view::npos) return {};  // several: the whole file
  const auto dash = spec.find('-');
  if (dash == std::string_view::npos) return {};
  const auto first = trim_ows(spec.substr(0, dash));
  const auto last = trim_ows(spec.substr(dash + 1));
  if (first.empty()) {
    // bytes=-N: the last N bytes.
    const auto n = number(last);
    if (!n) return {};
    if (*n == 0 || size == 0) return {ByteRange::unsatisfiable};
    const uint64_t len = std::min(*n, size);
    return {ByteRange::part, size - len, len};
  }
  const auto from = number(first);
  if (!from) return {};
  uint64_t to = size == 0 ? 0 : size - 1;
  if (!last.empty()) {
    const auto l = number(last);
    if (!l || *l < *from) return {};  // invalid: ignored
    to = std::min(*l, to);
  }
  if (*from >= size) return {ByteRange::unsatisfiable};
  return {ByteRange::part, *from, to - *from + 1};
}

std::string http_date(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(buf, n);
}

bool none_match_matches(std::string_view if_none_match, std::string_view etag) {
  if (trim_ows(if_none_match) == "*") return true;
  bool match = false;
  each_list_item(if_none_match, [&](std::string_view tag) {
    if (!tag.empty() && opaque(tag) == opaque(etag)) match = true;
  });
  return match;
}

bool if_range_matches(std::string_view if_range, std::string_view etag,
                      std::string_view last_modified) {
  if_range = trim_ows(if_range);
  if (if_range.starts_with('"')) return !etag.starts_with("W/") && if_range == etag;
  if (if_range.starts_with("W/")) return false;  // a weak tag never lets a range through
  return !last_modified.empty() && if_range == last_modified;
}

std::string attachment(std::string_view name) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string fallback, exact;
  for (unsigned char c : name) {
    // One '_' for each character the fallback cannot carry (a UTF-8 sequence is one).
    const bool plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '%' && c != ';';
    if (plain)
      fallback.push_back(static_cast<char>(c));
    else if (c < 0x80 || c >= 0xC0)
      fallback.push_back('_');
    // RFC 8187 attr-char: letters, digits and !#$&+-.^_`|~ go as they are.
    const bool attr =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        std::string_view("!#$&+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
    if (attr) {
      exact.push_back(static_cast<char>(c));
    } else {
      exact.push_back('%');
      exact.push_back(kHex[c >> 4]);
      exact.push_back(kHex[c & 0xF]);
    }
  }
  return "attachment; filename=\"" + fallback + "\"; filename*=UTF-8''" + exact;
}

std::string_view media_type(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 22> kTypes{{
      {"txt", "text/plain; charset=utf-8"},
      {"md", "text/markdown; charset=utf-8"},
      {"csv", "text/csv; charset=utf-8"},
      {"json", "application/json"},
      {"pdf", "application/pdf"},
      {"zip", "application/zip"},
      {"gz", "application/gzip"},
      {"tar", "application/x-tar"},
      {"xz", "application/x-xz"},
      {"iso", "application/x-iso9660-image"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"webp", "image/webp"},
      {"mp3", "audio/mpeg"},
      {"ogg", "audio/ogg"},
      {"flac", "audio/flac"},
      {"mp4", "video/mp4"},
      {"webm", "video/webm"},
      {"mkv", "video/x-matroska"},
      {"epub", "application/epub+zip"},
  }};
  const auto dot = name.rfind('.');
  if (dot == std::string_view::npos || dot + 1 >= name.size()) return "application/octet-stream";
  const std::string_view ext = name.substr(dot + 1);
  if (ext.size() > 8) return "application/octet-stream";
  for (const auto& [e, type] : kTypes)
    if (iequals(ext, e)) return type;
  return "application/octet-stream";
}

}  // namespace p2p::http
