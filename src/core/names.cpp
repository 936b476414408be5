#include "core/names.hpp"

#include <cstdint>

namespace p2p {
namespace {

// Length of the UTF-8 sequence starting at s[i], or 0 when it is malformed (overlong,
// surrogate, above U+10FFFF, truncated).
size_t utf8_sequence_length(std::string_view s, size_t i) {
  const auto b0 = static_cast<uint8_t>(s[i]);
  if (b0 < 0x80) return 1;
  size_t len;
  uint32_t cp;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    cp = b0 & 0x0F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<uint8_t>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  // C1 control characters U+0080..U+009F.
  if (cp >= 0x80 && cp <= 0x9F) return 0;
  return len;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

}  // namespace

Result<void> check_file_name(std::string_view name) {
  if (name.empty()) return Problem{"file name is empty"};
  if (name.size() > 255) return Problem{"file name is longer than 255 bytes"};
  if (name == "." || name == "..") return Problem{"file name may not be '.' or '..'"};
  for (size_t i = 0; i < name.size();) {
    const auto c = static_cast<uint8_t>(name[i]);
    if (c == '/' || c == '\\') return Problem{"file name may not contain '/' or '\\'"};
    if (c == 0) return Problem{"file name may not contain NUL"};
    if (c < 0x20 || c == 0x7F) return Problem{"file name may not contain control characters"};
    const size_t len = utf8_sequence_length(name, i);
    if (len == 0) return Problem{"file name is not valid UTF-8 (or contains a control character)"};
    i += len;
  }
  return {};
}

Result<std::string, NameProblem> admit_name(std::string_view raw, NameUse use) {
  const bool trims = use == NameUse::lookup || use == NameUse::serve;
  const std::string_view name = trims ? trim(raw) : raw;
  if (auto valid = check_file_name(name); !valid)
    return NameProblem{NameProblem::invalid, valid.error().why};
  // Every lookup trims, so a name whose trimmed form is no name (" .", " ..", "  ") could
  // be stored or listed but never found, and its key would be "." or "..".
  if (!trims && !valid_file_name(trim(name)))
    return NameProblem{NameProblem::invalid, "file name is only spaces around '.' or '..'"};
  switch (use) {
    case NameUse::lookup:
    case NameUse::ask:
      break;
    case NameUse::serve:
      // A temporary is an upload in progress: to a downloader it does not exist yet.
      if (is_temp_name(name))
        return NameProblem{NameProblem::hidden, "no such file: " + std::string(name)};
      break;
    case NameUse::upload:
      // Stored exactly as sent, so it must be what a later lookup's trimming finds.
      if (trim(name).size() != name.size() || is_temp_name(name))
        return NameProblem{is_temp_name(name) ? NameProblem::hidden : NameProblem::invalid,
                           "leading or trailing spaces, or a reserved prefix"};
      break;
    case NameUse::save:
    case NameUse::listed:
      if (is_temp_name(name)) return NameProblem{NameProblem::hidden, "reserved prefix"};
      break;
  }
  return std::string(name);
}

bool is_temp_name(std::string_view name) {
  return name.starts_with(kTempPrefix) || name.starts_with(kPartPrefix) ||
         name.starts_with(kStatePrefix);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string name_key(std::string_view name) {
  const std::string_view t = trim(name);
  std::string key(t);
  for (char& c : key)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return key;
}

}  // namespace p2p
