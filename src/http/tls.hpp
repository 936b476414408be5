// TLS contexts for the HTTP server (HTTPS) and client (https:// peers), on Asio's OpenSSL
// layer. Both throw std::runtime_error naming the file and OpenSSL's reason.
#pragma once

#include <asio/ssl/context.hpp>
#include <memory>
#include <string>

namespace p2p::http {

// A server context serving `cert_file` (PEM, the chain: leaf first) with `key_file`.
// TLS 1.2 and later.
std::shared_ptr<asio::ssl::context> server_tls_context(const std::string& cert_file,
                                                       const std::string& key_file);

// A client context that verifies servers against `ca_file` (PEM), or against the system's
// CAs when it is empty. The host name is checked per connection (Connection::connect).
std::shared_ptr<asio::ssl::context> client_tls_context(const std::string& ca_file);

}  // namespace p2p::http
