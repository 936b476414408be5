// What other peers send us: HTTP responses, /buscar replies, announcements.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/response_parser.hpp"
#include "search/reply.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  p2p::parse_search_reply(in);
  p2p::parse_announcement(in);
  p2p::http::ResponseParser parser(64 * 1024);
  // Fed in two pieces, as a socket may deliver it.
  const size_t half = size / 2;
  if (parser.feed(in.substr(0, half)) == p2p::http::ResponseParser::State::need_more)
    if (parser.feed(in.substr(half)) == p2p::http::ResponseParser::State::need_more)
      parser.finish();
  if (parser.body().size() > 64 * 1024) __builtin_trap();
  return 0;
}
