// SHA-256 with OpenSSL's EVP interface (which uses the CPU's SHA instructions where there
// are any): the digest type, its hex form, and an incremental hasher.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace p2p {

using Sha256 = std::array<uint8_t, 32>;

// 64 lowercase hex digits, as sha256sum prints them.
std::string to_hex(const Sha256& d);

// The digest a hex string names (upper or lower case); nullopt unless exactly 64 hex digits.
std::optional<Sha256> sha256_from_hex(std::string_view hex);

// The digest from its standard base64 (44 characters, one '=' of padding), as HTTP's
// Digest and Repr-Digest headers carry it; nullopt if it is not one.
std::optional<Sha256> sha256_from_base64(std::string_view b64);

class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  void update(const void* data, size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  // The digest of everything fed since construction or the last finish(); starts over.
  Sha256 finish();
  // Forgets what was fed: starts over without computing a digest.
  void reset();
  // Takes over what `other` was fed so far, as if it had been fed here instead.
  void continue_from(const Sha256Hasher& other);

 private:
  EVP_MD_CTX* ctx_;
};

// The digest of one buffer.
Sha256 sha256_of(std::string_view data);

}  // namespace p2p
