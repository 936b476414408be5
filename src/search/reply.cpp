#include "search/reply.hpp"

#include <simdjson.h>

namespace p2p {

std::optional<SearchReply> parse_search_reply(std::string_view body, std::string* why) {
  namespace od = simdjson::ondemand;
  auto fail = [&](const char* msg) -> std::optional<SearchReply> {
    if (why) *why = msg;
    return std::nullopt;
  };
  simdjson::padded_string padded(body);
  od::parser parser;
  od::document doc;
  if (parser.iterate(padded).get(doc)) return fail("reply is not JSON");
  od::object obj;
  if (doc.get_object().get(obj)) return fail("reply is not a JSON object");
  SearchReply r;
  bool seen_present = false;
  for (auto field_result : obj) {
    od::field field;
    if (std::move(field_result).get(field)) return fail("reply is not valid JSON");
    std::string_view key;
    if (field.unescaped_key().get(key)) return fail("reply has a bad key");
    od::value v = field.value();
    std::string_view s;
    if (key == "present") {
      bool b;
      if (v.get_bool().get(b)) return fail("\"present\" is not a boolean");
      r.present = b;
      seen_present = true;
    } else if (key == "grpc_address") {
      if (!v.get_string().get(s)) r.grpc_address = std::string(s);
    } else if (key == "filename") {
      if (!v.get_string().get(s)) r.filename = std::string(s);
    } else if (key == "peer") {
      if (!v.get_string().get(s)) r.peer = std::string(s);
    } else if (key == "size") {
      uint64_t n;
      if (!v.get_uint64().get(n)) {
        r.size = n;
        r.has_size = true;
      }
    }
  }
  if (!seen_present) return fail("reply has no \"present\" field");
  return r;
}

std::optional<Announcement> parse_announcement(std::string_view body, std::string* why) {
  namespace od = simdjson::ondemand;
  auto fail = [&](const char* msg) -> std::optional<Announcement> {
    if (why) *why = msg;
    return std::nullopt;
  };
  simdjson::padded_string padded(body);
  od::parser parser;
  od::document doc;
  if (parser.iterate(padded).get(doc)) return fail("body is not JSON");
  od::object obj;
  if (doc.get_object().get(obj)) return fail("body is not a JSON object");
  Announcement a;
  for (auto field_result : obj) {
    od::field field;
    if (std::move(field_result).get(field)) return fail("body is not valid JSON");
    std::string_view key, s;
    if (field.unescaped_key().get(key)) return fail("body has a bad key");
    od::value v = field.value();
    std::string* target = key == "url"            ? &a.url
                          : key == "grpc_address" ? &a.grpc_address
                          : key == "name"         ? &a.name
                          : key == "id"           ? &a.id
                                                  : nullptr;
    if (!target) continue;
    if (v.get_string().get(s)) return fail("a field that should be a string is not");
    *target = std::string(s);
  }
  if (a.url.empty()) return fail("\"url\" (the peer's REST URL) is required");
  return a;
}

}  // namespace p2p
