// gRPC credentials from PEM files: TLS when configured, plaintext otherwise. Both throw
// std::runtime_error naming a file that cannot be read.
#pragma once

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

namespace p2p {

// TLS with this certificate chain and key (PEM files); both empty: plaintext.
std::shared_ptr<grpc::ServerCredentials> server_credentials(const std::string& cert_file,
                                                            const std::string& key_file);

// `tls` false: plaintext. Else servers are verified against `ca_file` (PEM), or against the
// system's CAs when it is empty.
std::shared_ptr<grpc::ChannelCredentials> channel_credentials(bool tls, const std::string& ca_file);

}  // namespace p2p
