// What other peers send us: HTTP responses, /buscar queries and replies, announcements.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/response_parser.hpp"
#include "search/announcement.hpp"
#include "search/query.hpp"
#include "search/reply.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  // What a message's owner builds, it reads back the same.
  if (auto r = p2p::parse_search_reply(in)) {
    const auto back = p2p::parse_search_reply(p2p::search_reply_body(*r));
    if (!back || back->present != r->present) __builtin_trap();
    if (r->present && back->holders.size() != r->holders.size()) __builtin_trap();
  }
  if (auto a = p2p::parse_announcement(in)) {
    const auto back = p2p::parse_announcement(p2p::announcement_body(*a));
    if (!back || back->url != a->url || back->id != a->id) __builtin_trap();
  }
  if (auto q = p2p::parse_search_query(in)) {
    const std::string target = p2p::search_target(*q);
    const auto back =
        p2p::parse_search_query(std::string_view(target).substr(target.find('?') + 1));
    if (!back || back->name != q->name || back->qid != q->qid || back->exclude != q->exclude ||
        back->sha256 != q->sha256 || back->holders != q->holders)
      __builtin_trap();
  }
  p2p::http::ResponseParser parser(64 * 1024);
  // Fed in two pieces, as a socket may deliver it.
  const size_t half = size / 2;
  if (parser.feed(in.substr(0, half)) == p2p::http::ResponseParser::State::need_more)
    if (parser.feed(in.substr(half)) == p2p::http::ResponseParser::State::need_more)
      parser.finish();
  if (parser.body().size() > 64 * 1024) __builtin_trap();
  return 0;
}
