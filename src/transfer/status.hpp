// The gRPC status that tells a user what a file-system failure means, on either side of
// a transfer.
#pragma once

#include <grpcpp/support/status.h>

#include "io/shared_folder.hpp"

namespace p2p {

grpc::Status to_status(const FsFailure& f);

}  // namespace p2p
