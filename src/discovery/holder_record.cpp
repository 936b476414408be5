#include "discovery/holder_record.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "content/sha256.hpp"
#include "core/names.hpp"
#include "core/uri.hpp"

namespace p2p {
namespace {

// Short field names: a value travels in every get and is stored on several nodes.
constexpr std::string_view kUrl = "u", kGrpc = "g", kName = "n", kSize = "s", kSha = "h";

Result<void> check_grpc_address(const std::string& address) {
  const auto url = parse_host_port(address);
  if (!url || is_wildcard_host(url->host))
    return Problem{"grpc address '" + address + "' is not host:port"};
  return {};
}

}  // namespace

std::string encode_record(const HolderRecord& r) {
  boost::json::object o{{kUrl, r.url}, {kGrpc, r.grpc_address}, {kName, r.name}, {kSize, r.size}};
  if (!r.sha256.empty()) o[kSha] = r.sha256;
  return boost::json::serialize(o);
}

Result<HolderRecord> decode_record(std::string_view bytes) {
  if (bytes.size() > kMaxRecordBytes) return Problem{"record larger than 1 KiB"};
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(bytes, ec);
  if (ec || !v.is_object()) return Problem{"record is not a JSON object"};
  const auto& o = v.get_object();
  const auto text = [&](std::string_view k) -> const boost::json::string* {
    const auto* f = o.if_contains(k);
    return f ? f->if_string() : nullptr;
  };
  const auto *url = text(kUrl), *grpc = text(kGrpc), *name = text(kName), *sha = text(kSha);
  const auto* size = o.if_contains(kSize);
  if (!url || !grpc || !name || !size || !(size->is_uint64() || size->is_int64()) ||
      (o.contains(kSha) && !sha))
    return Problem{"record lacks a field or has one of the wrong type"};
  if (size->is_int64() && size->get_int64() < 0) return Problem{"record has a negative size"};
  HolderRecord r{std::string(*url), std::string(*grpc), std::string(*name),
                 size->is_uint64() ? size->get_uint64() : static_cast<uint64_t>(size->get_int64()),
                 sha ? std::string(*sha) : std::string()};
  const auto parsed = parse_http_url(r.url);
  if (!parsed || is_wildcard_host(parsed->host))
    return Problem{"record url '" + r.url + "' is bad"};
  if (auto ok = check_grpc_address(r.grpc_address); !ok) return ok.error();
  const auto admitted = admit_name(r.name, NameUse::ask);
  if (!admitted) return Problem{"record name: " + admitted.error().why};
  if (!r.sha256.empty()) {
    const auto digest = sha256_from_hex(r.sha256);
    if (!digest) return Problem{"record sha256 is not 64 hex digits"};
    r.sha256 = to_hex(*digest);
  }
  return r;
}

std::string name_key_string(std::string_view name) { return "p2p-share/name/" + name_key(name); }

std::string sha256_key_string(std::string_view sha256_hex) {
  std::string key = "p2p-share/sha256/";
  for (char c : sha256_hex) key += static_cast<char>(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
  return key;
}

}  // namespace p2p
