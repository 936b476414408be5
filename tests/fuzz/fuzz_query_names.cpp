// Query strings, %-decoding, the name validator and URL parsing on arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/names.hpp"
#include "core/uri.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto v = p2p::query_value(in, "archivo"); v && v->has_value()) {
    for (auto use : {p2p::NameUse::lookup, p2p::NameUse::ask, p2p::NameUse::serve,
                     p2p::NameUse::upload, p2p::NameUse::save, p2p::NameUse::listed}) {
      if (auto name = p2p::admit_name(**v, use)) {
        // A name admitted for any use never leaves the folder.
        const std::string key = p2p::name_key(*name);
        if (key.find('/') != std::string::npos || key == "." || key == "..") __builtin_trap();
      }
    }
  }
  p2p::query_values(in, "exclude");
  if (auto d = p2p::percent_decode(in)) p2p::valid_file_name(*d);
  if (auto url = p2p::parse_http_url(in)) {
    if (url->host.empty() || url->port == 0) __builtin_trap();
    static_cast<void>(p2p::parse_http_url(url->str()));  // the normalised form parses too
  }
  p2p::replace_wildcard_host(in, "127.0.0.1");
  p2p::file_uri(in);
  return 0;
}
