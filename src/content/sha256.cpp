#include "content/sha256.hpp"

#include <algorithm>
#include <new>

namespace p2p {

std::string to_hex(const Sha256& d) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(64, '0');
  for (size_t i = 0; i < d.size(); ++i) {
    out[2 * i] = digits[d[i] >> 4];
    out[2 * i + 1] = digits[d[i] & 0xf];
  }
  return out;
}

std::optional<Sha256> sha256_from_hex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Sha256 d{};
  for (size_t i = 0; i < d.size(); ++i) {
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    d[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return d;
}

Sha256Hasher::Sha256Hasher() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) throw std::bad_alloc();
}

Sha256Hasher::~Sha256Hasher() { EVP_MD_CTX_free(ctx_); }

void Sha256Hasher::update(const void* data, size_t n) {
  if (n) EVP_DigestUpdate(ctx_, data, n);
}

Sha256 Sha256Hasher::finish() {
  Sha256 d{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_, d.data(), &len);
  reset();
  return d;
}

void Sha256Hasher::reset() { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }

void Sha256Hasher::continue_from(const Sha256Hasher& other) {
  if (EVP_MD_CTX_copy_ex(ctx_, other.ctx_) != 1) throw std::bad_alloc();
}

Sha256 sha256_of(std::string_view data) {
  Sha256Hasher h;
  h.update(data);
  return h.finish();
}

std::optional<Sha256> sha256_from_base64(std::string_view b64) {
  if (b64.size() != 44 || b64[43] != '=' || b64[42] == '=') return std::nullopt;
  unsigned char out[33];
  if (EVP_DecodeBlock(out, reinterpret_cast<const unsigned char*>(b64.data()), 44) != 33)
    return std::nullopt;
  Sha256 d;
  std::copy(out, out + d.size(), d.begin());
  return d;
}

}  // namespace p2p
