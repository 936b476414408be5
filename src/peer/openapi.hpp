// The OpenAPI 3 description of the REST API: docs/openapi.json, built into the binary
// (src/peer/embed_json.py writes its definition at build time).
#pragma once

#include <string_view>

namespace p2p {

std::string_view openapi_json();

}  // namespace p2p
