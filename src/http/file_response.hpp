// The HTTP semantics of serving a file (RFC 9110): byte ranges, validators (ETag,
// Last-Modified) and conditional requests, the download's name and type. No I/O.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

namespace p2p::http {

// `s` without the spaces and tabs around it (HTTP's optional whitespace).
std::string_view trim_ows(std::string_view s);

// Calls fn(item) for each item of a comma-separated header list, trimmed (empty ones too).
template <class Fn>
void each_list_item(std::string_view list, Fn fn) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    fn(trim_ows(list.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// What a Range header asks of a file of `size` bytes.
struct ByteRange {
  enum Kind {
    whole,          // no Range, one we do not understand (ignored, as RFC 9110 allows), or
                    // several ranges (answered with the whole file)
    part,           // one satisfiable range: [first, first + length)
    unsatisfiable,  // 416
  };
  Kind kind = whole;
  uint64_t first = 0;
  uint64_t length = 0;
};
ByteRange parse_range(std::string_view header, uint64_t size);

// "Tue, 01 Dec 2026 10:00:00 GMT" (IMF-fixdate).
std::string http_date(std::time_t t);

// Whether an If-None-Match value ("*", or a list of entity tags) matches `etag` by weak
// comparison (RFC 9110 13.1.2).
bool none_match_matches(std::string_view if_none_match, std::string_view etag);

// Whether If-Range lets the range through: a strong entity tag equal to `etag` (which must
// itself be strong), or exactly `last_modified`.
bool if_range_matches(std::string_view if_range, std::string_view etag,
                      std::string_view last_modified);

// Content-Disposition for a download saved as `name` (RFC 6266): an ASCII fallback in
// filename="..." (anything unsafe replaced by '_') and the exact name as UTF-8 in filename*.
std::string attachment(std::string_view name);

// The media type of a file called `name`, by its extension; application/octet-stream for
// anything not in the short table. HTML, SVG, JavaScript and XML are never named: a shared
// file must not run script in the peer's origin (its web page lives there), and every
// download is an attachment besides.
std::string_view media_type(std::string_view name);

}  // namespace p2p::http
