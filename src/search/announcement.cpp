#include "search/announcement.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "search/json_fields.hpp"

namespace p2p {

std::string announcement_body(const Announcement& a) {
  return boost::json::serialize(boost::json::object{
      {"url", a.url}, {"grpc_address", a.grpc_address}, {"name", a.name}, {"id", a.id}});
}

std::optional<Announcement> parse_announcement(std::string_view body, std::string* why) {
  Announcement a;
  const bool ok = each_json_field(
      body, why, [&](std::string_view key, simdjson::ondemand::value& v) -> const char* {
        std::string* text = text_field(
            key,
            {{"url", &a.url}, {"grpc_address", &a.grpc_address}, {"name", &a.name}, {"id", &a.id}});
        std::string_view s;
        if (!text) return nullptr;
        if (v.get_string().get(s)) return "a field that should be a string is not";
        *text = std::string(s);
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
