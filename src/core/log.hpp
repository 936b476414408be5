// Logging in the seed's format: "YYYY-MM-DD HH:MM:SS LEVEL [Name] message" on stderr.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace p2p::log {

// Makes the default spdlog logger write the seed's format, tagged with `name`.
void init(const std::string& name);

}  // namespace p2p::log
