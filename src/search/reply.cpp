#include "search/reply.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "content/sha256.hpp"
#include "search/json_fields.hpp"

namespace p2p {

std::string search_reply_body(const SearchReply& r) {
  if (!r.present) return boost::json::serialize(boost::json::object{{"present", false}});
  boost::json::object o{{"present", true}, {"filename", r.filename}};
  if (!r.grpc_address.empty()) o["grpc_address"] = r.grpc_address;
  if (r.size) o["size"] = *r.size;
  if (!r.sha256.empty()) o["sha256"] = r.sha256;
  if (!r.via.empty()) o["via"] = r.via;
  if (!r.peer.empty()) o["peer"] = r.peer;
  return boost::json::serialize(o);
}

Result<SearchReply> parse_search_reply(std::string_view body) {
  SearchReply r;
  bool seen_present = false;
  const auto walked =
      each_json_field(body, [&](std::string_view key, simdjson::ondemand::value& v) -> const char* {
        std::string* text = text_field(key, {{"grpc_address", &r.grpc_address},
                                             {"filename", &r.filename},
                                             {"sha256", &r.sha256},
                                             {"via", &r.via},
                                             {"peer", &r.peer}});
        std::string_view s;
        uint64_t n;
        if (text) {
          if (!v.get_string().get(s)) *text = std::string(s);
        } else if (key == "present") {
          bool b;
          if (v.get_bool().get(b)) return "\"present\" is not a boolean";
          r.present = b;
          seen_present = true;
        } else if (key == "size") {
          if (!v.get_uint64().get(n)) r.size = n;
        }
        return nullptr;
      });
  if (!walked) return walked.error();
  if (!seen_present) return Problem{"no \"present\" field"};
  if (const auto d = sha256_from_hex(r.sha256)) {
    r.sha256 = to_hex(*d);
  } else {
    r.sha256.clear();
  }
  return r;
}

}  // namespace p2p
