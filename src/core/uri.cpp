#include "core/uri.hpp"

#include <charconv>

namespace p2p {
namespace {

std::optional<int> hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return std::nullopt;
}

bool unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

}  // namespace

std::string percent_encode_path(std::string_view path) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(path.size());
  for (unsigned char c : path) {
    if (unreserved(c) || c == '/') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::string file_uri(std::string_view absolute_path) {
  return "file://" + percent_encode_path(absolute_path);
}

namespace {

Result<std::string> decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else if (c == '%') {
      const auto hi = i + 2 < s.size() ? hex_value(s[i + 1]) : std::nullopt;
      const auto lo = hi ? hex_value(s[i + 2]) : std::nullopt;
      if (!lo) return Problem{"a '%' is not followed by two hex digits"};
      out.push_back(static_cast<char>(*hi * 16 + *lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

Result<std::string> percent_decode(std::string_view s) { return decode(s, true); }

Result<std::string> percent_decode_path(std::string_view s) { return decode(s, false); }

namespace {

// Calls fn(raw value) for each pair of `query` whose key is `key`, until fn returns false.
template <class Fn>
void each_raw_value(std::string_view query, std::string_view key, Fn fn) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) != key) continue;
    if (!fn(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1))) return;
  }
}

}  // namespace

std::vector<std::string> query_values(std::string_view query, std::string_view key) {
  std::vector<std::string> out;
  each_raw_value(query, key, [&](std::string_view raw) {
    if (auto decoded = percent_decode(raw)) out.push_back(std::move(decoded).value());
    return true;
  });
  return out;
}

Result<std::optional<std::string>> query_value(std::string_view query, std::string_view key) {
  Result<std::optional<std::string>> out = std::nullopt;
  each_raw_value(query, key, [&](std::string_view raw) {
    if (auto decoded = percent_decode(raw)) {
      out = std::optional<std::string>(std::move(decoded).value());
    } else {
      out = decoded.error();
    }
    return false;
  });
  return out;
}

std::string host_port(std::string_view host, uint16_t port) {
  std::string out;
  if (host.find(':') != std::string_view::npos) {
    out.append("[").append(host).append("]");
  } else {
    out.append(host);
  }
  out.append(":").append(std::to_string(port));
  return out;
}

bool is_wildcard_host(std::string_view host) {
  return host == "0.0.0.0" || host == "::" || host == "[::]";
}

std::string replace_wildcard_host(std::string_view address, std::string_view host) {
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || !is_wildcard_host(address.substr(0, colon)))
    return std::string(address);
  const std::string bracketed =
      host.find(':') != std::string_view::npos ? "[" + std::string(host) + "]" : std::string(host);
  return bracketed + std::string(address.substr(colon));
}

std::string HttpUrl::str() const { return (tls ? "https://" : "http://") + host_port(host, port); }

Result<HttpUrl> parse_http_url(std::string_view url) {
  HttpUrl out;
  if (url.starts_with("http://")) {
    url.remove_prefix(7);
    out.port = 80;
  } else if (url.starts_with("https://")) {
    url.remove_prefix(8);
    out.tls = true;
    out.port = 443;
  } else {
    return Problem{"must start with http:// or https://"};
  }
  if (url.ends_with('/')) url.remove_suffix(1);
  if (url.find_first_of("/?#@ ") != std::string_view::npos)
    return Problem{"must be scheme://host:port with no path, query or user"};
  std::string_view host = url;
  std::string_view port;
  if (url.starts_with('[')) {
    const size_t close = url.find(']');
    if (close == std::string_view::npos) return Problem{"has an unclosed '[' in the host"};
    host = url.substr(1, close - 1);
    std::string_view rest = url.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return Problem{"has text after the IPv6 host"};
      port = rest.substr(1);
    }
  } else {
    const size_t colon = url.rfind(':');
    if (colon != std::string_view::npos) {
      host = url.substr(0, colon);
      port = url.substr(colon + 1);
      if (host.find(':') != std::string_view::npos)
        return Problem{"has an IPv6 host without brackets"};
    }
  }
  if (host.empty()) return Problem{"has no host"};
  if (!port.empty() || url.ends_with(':')) {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || ptr != port.data() + port.size() || value == 0 || value > 65535)
      return Problem{"has a port that is not a number from 1 to 65535"};
    out.port = static_cast<uint16_t>(value);
  }
  out.host = std::string(host);
  return out;
}

Result<HttpUrl> parse_host_port(std::string_view s) {
  const std::string as_url = "http://" + std::string(s);
  auto url = parse_http_url(as_url);
  if (!url || url->port == 0 || url->str() != as_url)
    return Problem{"'" + std::string(s) + "' is not host:port"};
  return url;
}

}  // namespace p2p
