#include "http/tls.hpp"

#include <stdexcept>

namespace p2p::http {
namespace {

std::shared_ptr<asio::ssl::context> tls12_or_later(asio::ssl::context::method method) {
  auto ctx = std::make_shared<asio::ssl::context>(method);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  return ctx;
}

template <class F>
void load(const char* what, const std::string& file, F&& f) {
  std::error_code ec;
  f(ec);
  if (ec) throw std::runtime_error(std::string(what) + " '" + file + "': " + ec.message());
}

}  // namespace

std::shared_ptr<asio::ssl::context> server_tls_context(const std::string& cert_file,
                                                       const std::string& key_file) {
  auto ctx = tls12_or_later(asio::ssl::context::tls_server);
  load("TLS certificate", cert_file,
       [&](std::error_code& ec) { ctx->use_certificate_chain_file(cert_file, ec); });
  load("TLS key", key_file, [&](std::error_code& ec) {
    ctx->use_private_key_file(key_file, asio::ssl::context::pem, ec);
  });
  // (OpenSSL has checked that the key matches the certificate: "key values mismatch".)
  return ctx;
}

std::shared_ptr<asio::ssl::context> client_tls_context(const std::string& ca_file) {
  auto ctx = tls12_or_later(asio::ssl::context::tls_client);
  ctx->set_verify_mode(asio::ssl::verify_peer);
  if (ca_file.empty()) {
    load("system CA store", "default",
         [&](std::error_code& ec) { ctx->set_default_verify_paths(ec); });
  } else {
    load("TLS CA file", ca_file, [&](std::error_code& ec) { ctx->load_verify_file(ca_file, ec); });
  }
  return ctx;
}

}  // namespace p2p::http
