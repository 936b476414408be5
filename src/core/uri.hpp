// URI pieces without any I/O: percent-encoding, query strings, peer URLs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace p2p {

// Percent-encodes every byte outside RFC 3986 "unreserved" and '/', so an absolute path
// becomes the path of a file:// URI ("a b/ñ" -> "a%20b/%C3%B1").
std::string percent_encode_path(std::string_view path);

// "file://" + percent_encode_path(absolute_path).
std::string file_uri(std::string_view absolute_path);

// Percent-decoding of one query component ('+' is a space, as HTML forms and the Python
// original's framework read it). Fails when a '%' is not followed by two hex digits.
Result<std::string> percent_decode(std::string_view s);

// Percent-decoding of one path segment: '+' stays '+'. Fails like percent_decode.
Result<std::string> percent_decode_path(std::string_view s);

// The decoded value of the first `key` in a query string ("a=1&archivo=x%20y"): nullopt
// when absent; fails (throwing nothing) when its value has a malformed escape.
Result<std::optional<std::string>> query_value(std::string_view query, std::string_view key);

// Every decoded value of `key`, in order; values with a malformed escape are skipped.
std::vector<std::string> query_values(std::string_view query, std::string_view key);

// http://HOST:PORT[/] as the config and POST /peers give it.
struct HttpUrl {
  std::string host;  // without brackets for IPv6
  uint16_t port = 80;
  bool tls = false;         // https
  std::string str() const;  // normalised: scheme://host:port
};

// Fails, saying why, when the URL is not http(s)://host[:port][/].
Result<HttpUrl> parse_http_url(std::string_view url);

// "host:port" exactly (a gRPC address, a DHT node): a host, a port 1..65535, nothing else;
// as the URL http://host:port, or why it is not one.
Result<HttpUrl> parse_host_port(std::string_view s);

// 0.0.0.0, ::, [::]: an address to listen on, never one to connect to.
bool is_wildcard_host(std::string_view host);

// "HOST:PORT" with a wildcard HOST replaced by `host` ("0.0.0.0:50052" -> "10.0.0.2:50052");
// any other address unchanged.
std::string replace_wildcard_host(std::string_view address, std::string_view host);

// "host:port", bracketing IPv6 literals.
std::string host_port(std::string_view host, uint16_t port);

}  // namespace p2p
