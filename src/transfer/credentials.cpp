#include "transfer/credentials.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace p2p {
namespace {

std::string read_pem(const std::string& file, const char* what) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in || text.str().find("-----BEGIN ") == std::string::npos)
    throw std::runtime_error(std::string(what) + " '" + file + "' cannot be read as PEM");
  return text.str();
}

}  // namespace

std::shared_ptr<grpc::ServerCredentials> server_credentials(const std::string& cert_file,
                                                            const std::string& key_file) {
  if (cert_file.empty() && key_file.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back(
      {read_pem(key_file, "TLS key"), read_pem(cert_file, "TLS certificate")});
  return grpc::SslServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> channel_credentials(bool tls,
                                                              const std::string& ca_file) {
  if (!tls) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions options;
  if (!ca_file.empty()) options.pem_root_certs = read_pem(ca_file, "TLS CA file");
  return grpc::SslCredentials(options);
}

}  // namespace p2p
