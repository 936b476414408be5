#include "search/reply.hpp"

#include <array>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "content/sha256.hpp"
#include "search/json_fields.hpp"

namespace p2p {
namespace {

// A digest as 64 lowercase hex digits; empty when `hex` is none.
std::string normal_sha256(std::string_view hex) {
  const auto d = sha256_from_hex(hex);
  return d ? to_hex(*d) : std::string();
}

// One entry of "holders"; nullopt when it is not an object with a grpc_address.
std::optional<SearchHolder> parse_holder(simdjson::ondemand::value& v) {
  simdjson::ondemand::object obj;
  if (v.get_object().get(obj)) return std::nullopt;
  SearchHolder h;
  const char* error =
      each_object_field(obj, [&](std::string_view key, simdjson::ondemand::value& field) {
        std::string* text = text_field(
            key, {{"grpc_address", &h.grpc_address}, {"url", &h.url}, {"sha256", &h.sha256}});
        std::string_view s;
        uint64_t n;
        if (text && !field.get_string().get(s)) *text = std::string(s);
        if (key == "size" && !field.get_uint64().get(n)) h.size = n;
        return static_cast<const char*>(nullptr);
      });
  if (error || h.grpc_address.empty()) return std::nullopt;
  h.sha256 = normal_sha256(h.sha256);
  return h;
}

}  // namespace

std::string search_reply_body(const SearchReply& r) {
  if (!r.present) return boost::json::serialize(boost::json::object{{"present", false}});
  // A hit is built on the stack: a local hit is the hot path, and the heap is shared by
  // every thread (a reply with many holders overflows to the heap).
  std::array<unsigned char, 2048> arena;
  boost::json::monotonic_resource mr(arena.data(), arena.size());
  boost::json::object o({{"present", true}, {"filename", r.filename}}, &mr);
  if (!r.grpc_address.empty()) o["grpc_address"] = r.grpc_address;
  if (r.size) o["size"] = *r.size;
  if (!r.sha256.empty()) o["sha256"] = r.sha256;
  if (!r.via.empty()) o["via"] = r.via;
  if (!r.peer.empty()) o["peer"] = r.peer;
  if (!r.holders.empty()) {
    boost::json::array holders(&mr);
    for (const auto& h : r.holders) {
      boost::json::object entry({{"grpc_address", h.grpc_address}, {"url", h.url}}, &mr);
      if (h.size) entry["size"] = *h.size;
      if (!h.sha256.empty()) entry["sha256"] = h.sha256;
      holders.push_back(std::move(entry));
    }
    o["holders"] = std::move(holders);
  }
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
        } else if (key == "holders") {
          simdjson::ondemand::array holders;
          if (v.get_array().get(holders)) return nullptr;
          for (auto entry : holders) {
            simdjson::ondemand::value e;
            if (std::move(entry).get(e)) return "not valid JSON";
            if (auto h = parse_holder(e)) r.holders.push_back(std::move(*h));
          }
        }
        return nullptr;
      });
  if (!walked) return walked.error();
  if (!seen_present) return Problem{"no \"present\" field"};
  r.sha256 = normal_sha256(r.sha256);
  return r;
}

}  // namespace p2p
