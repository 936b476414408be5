#include "search/announcement.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "search/json_fields.hpp"

namespace p2p {

std::string announcement_body(const Announcement& a) {
  boost::json::object o{
      {"url", a.url}, {"grpc_address", a.grpc_address}, {"name", a.name}, {"id", a.id}};
  if (a.dht_port != 0) o["dht_port"] = a.dht_port;
  return boost::json::serialize(o);
}

Result<Announcement> parse_announcement(std::string_view body) {
  Announcement a;
  const auto walked =
      each_json_field(body, [&](std::string_view key, simdjson::ondemand::value& v) -> const char* {
        std::string* text = text_field(
            key,
            {{"url", &a.url}, {"grpc_address", &a.grpc_address}, {"name", &a.name}, {"id", &a.id}});
        std::string_view s;
        if (key == "dht_port") {
          uint64_t port = 0;
          if (v.get_uint64().get(port) || port > 65535) return "dht_port is not a port number";
          a.dht_port = static_cast<uint16_t>(port);
          return nullptr;
        }
        if (!text) return nullptr;
        if (v.get_string().get(s)) return "a field that should be a string is not";
        *text = std::string(s);
        return nullptr;
      });
  if (!walked) return walked.error();
  if (a.url.empty()) return Problem{"\"url\" (the peer's REST URL) is required"};
  return a;
}

}  // namespace p2p
