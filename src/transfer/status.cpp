#include "transfer/status.hpp"

namespace p2p {

grpc::Status to_status(const FsFailure& f) {
  switch (f.code) {
    case FsError::invalid_name:
      return {grpc::StatusCode::INVALID_ARGUMENT, f.why};
    case FsError::not_found:
      return {grpc::StatusCode::NOT_FOUND, f.why};
    case FsError::permission_denied:
      return {grpc::StatusCode::PERMISSION_DENIED, f.why};
    case FsError::already_exists:
      return {grpc::StatusCode::ALREADY_EXISTS, f.why};
    case FsError::too_large:
    case FsError::no_space:
      return {grpc::StatusCode::RESOURCE_EXHAUSTED, f.why};
    case FsError::io:
      break;
  }
  return {grpc::StatusCode::INTERNAL, f.why};
}

}  // namespace p2p
