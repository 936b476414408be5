#include "search/reply.hpp"

#include <simdjson.h>

namespace p2p {
namespace {

namespace od = simdjson::ondemand;

// Walks the fields of a JSON object; `field(key, value)` returns an error text or null.
// False (with *why) when the body is not an object or a field is rejected.
template <class Fn>
bool each_field(std::string_view body, std::string* why, Fn field) {
  auto fail = [&](const char* msg) {
    if (why) *why = msg;
    return false;
  };
  simdjson::padded_string padded(body);
  od::parser parser;
  od::document doc;
  if (parser.iterate(padded).get(doc)) return fail("not JSON");
  od::object obj;
  if (doc.get_object().get(obj)) return fail("not a JSON object");
  for (auto field_result : obj) {
    od::field f;
    if (std::move(field_result).get(f)) return fail("not valid JSON");
    std::string_view key;
    if (f.unescaped_key().get(key)) return fail("a bad key");
    od::value v = f.value();
    if (const char* error = field(key, v)) return fail(error);
  }
  return true;
}

}  // namespace

std::optional<SearchReply> parse_search_reply(std::string_view body, std::string* why) {
  SearchReply r;
  bool seen_present = false;
  const bool ok = each_field(body, why, [&](std::string_view key, od::value& v) -> const char* {
    std::string_view s;
    if (key == "present") {
      bool b;
      if (v.get_bool().get(b)) return "\"present\" is not a boolean";
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
    return nullptr;
  });
  if (!ok) return std::nullopt;
  if (!seen_present) {
    if (why) *why = "no \"present\" field";
    return std::nullopt;
  }
  return r;
}

std::optional<Announcement> parse_announcement(std::string_view body, std::string* why) {
  Announcement a;
  const bool ok = each_field(body, why, [&](std::string_view key, od::value& v) -> const char* {
    std::string* target = key == "url"            ? &a.url
                          : key == "grpc_address" ? &a.grpc_address
                          : key == "name"         ? &a.name
                          : key == "id"           ? &a.id
                                                  : nullptr;
    std::string_view s;
    if (!target) return nullptr;
    if (v.get_string().get(s)) return "a field that should be a string is not";
    *target = std::string(s);
    return nullptr;
  });
  if (!ok) return std::nullopt;
  if (a.url.empty()) {
    if (why) *why = "\"url\" (the peer's REST URL) is required";
    return std::nullopt;
  }
  return a;
}

}  // namespace p2p
