// File names as they cross the wire: the one validator and the one normaliser.
#pragma once

#include <string>
#include <string_view>

namespace p2p {

// Prefix of the peer's own temporary files in the shared folder. They are never listed,
// served or accepted as upload names.
inline constexpr std::string_view kTempPrefix = ".p2p-tmp-";

// Why a name is rejected, or empty when it is a valid file name: 1..255 bytes of UTF-8,
// not "." or "..", no '/', '\\', NUL or control character (C0, DEL, C1).
std::string_view file_name_problem(std::string_view name);

inline bool valid_file_name(std::string_view name) { return file_name_problem(name).empty(); }

bool is_temp_name(std::string_view name);

// Leading and trailing ASCII white space removed.
std::string_view trim(std::string_view s);

// The lookup key of a name: trimmed and ASCII-lowercased. Matching is exact on this key
// (case-insensitive, no substring). Non-ASCII letters are compared byte for byte.
std::string name_key(std::string_view name);

}  // namespace p2p
