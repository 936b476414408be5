// The one walk over a peer's JSON object (simdjson on-demand) that the wire messages'
// parsers share, so each parser says only what its fields mean.
#pragma once

#include <simdjson.h>

#include <initializer_list>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace p2p {

// Calls `field(key, value)` for each field of `obj`; `field` returns an error text or null.
// The first error text, or null. Nested objects (a reply's holders) are walked with this too.
template <class Fn>
const char* each_object_field(simdjson::ondemand::object& obj, Fn&& field) {
  namespace od = simdjson::ondemand;
  for (auto field_result : obj) {
    od::field f;
    if (std::move(field_result).get(f)) return "not valid JSON";
    std::string_view key;
    if (f.unescaped_key().get(key)) return "a bad key";
    od::value v = f.value();
    if (const char* error = field(key, v)) return error;
  }
  return nullptr;
}

// Calls `field(key, value)` for each field of the JSON object in `body`; `field` returns an
// error text or null. Fails when the body is not an object or a field is rejected.
template <class Fn>
Result<void> each_json_field(std::string_view body, Fn field) {
  namespace od = simdjson::ondemand;
  auto fail = [](const char* msg) { return Result<void>(Problem{msg}); };
  simdjson::padded_string padded(body);
  od::parser parser;
  od::document doc;
  if (parser.iterate(padded).get(doc)) return fail("not JSON");
  od::object obj;
  if (doc.get_object().get(obj)) return fail("not a JSON object");
  if (const char* error = each_object_field(obj, field)) return fail(error);
  return {};
}

// A message's text field: its JSON key and the member it is read into.
struct TextField {
  std::string_view key;
  std::string* member;
};

// The member `key` names among `fields`, or null when it names none of them.
inline std::string* text_field(std::string_view key, std::initializer_list<TextField> fields) {
  for (const auto& f : fields)
    if (f.key == key) return f.member;
  return nullptr;
}

}  // namespace p2p
