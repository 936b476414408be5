// The config parser on arbitrary bytes: a ConfigError or a valid config, nothing else.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto cfg =
        p2p::parse_config(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.json");
    if (cfg.ip.empty() || cfg.directory.empty() || cfg.timeout_ms == 0) __builtin_trap();
  } catch (const p2p::ConfigError&) {
  }
  return 0;
}
