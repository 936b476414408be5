// File names as they cross the wire: the one validator and the one normaliser.
#pragma once

#include <string>
#include <string_view>

#include "core/result.hpp"

namespace p2p {

// Prefix of the peer's own temporary files in the shared folder. They are never listed,
// served or accepted as upload names.
inline constexpr std::string_view kTempPrefix = ".p2p-tmp-";
// A download in progress (`p2p get`): its data and its record of verified pieces. Prefixes,
// not suffixes: no NAME's part file can be another NAME's record. They are hidden like the
// temporaries (a folder a peer shares may also receive downloads: half a file is never
// listed or served), but kept at the peer's start, since the next get resumes from them.
inline constexpr std::string_view kPartPrefix = ".p2p-part-";
inline constexpr std::string_view kStatePrefix = ".p2p-state-";

// Whether `name` is a valid file name: 1..255 bytes of UTF-8, not "." or "..", no '/',
// '\\', NUL or control character (C0, DEL, C1); else why not.
Result<void> check_file_name(std::string_view name);

inline bool valid_file_name(std::string_view name) { return check_file_name(name).ok(); }

// Where a name comes from, which decides what is done to it before it is used.
enum class NameUse {
  lookup,  // REST /buscar: trimmed (matching is case-insensitive, on name_key)
  ask,     // the client asking peers for a name: as typed (the peer trims)
  serve,   // gRPC Download: trimmed, and never one of our temporaries
  upload,  // gRPC Upload: exactly as it will be stored, and not a temporary
  save,    // the client writing a download: as stored, and not a temporary
  listed,  // a file in the shared folder that the index lists: same rules as save
};

struct NameProblem {
  enum Kind {
    invalid,  // not a file name at all (or not one this use accepts)
    hidden,   // a valid name that is reserved for our temporaries
  };
  Kind kind;
  std::string why;
};

// The name to use for `raw` arriving as `use`, or why it is refused. Every place that
// takes a name from the outside goes through here, so the rules live in one place.
Result<std::string, NameProblem> admit_name(std::string_view raw, NameUse use);

bool is_temp_name(std::string_view name);

// Leading and trailing ASCII white space removed.
std::string_view trim(std::string_view s);

// The lookup key of a name: trimmed and ASCII-lowercased. Matching is exact on this key
// (case-insensitive, no substring). Non-ASCII letters are compared byte for byte.
std::string name_key(std::string_view name);

}  // namespace p2p
