// GET, HEAD and PUT /archivos/NAME: the shared files for browsers and the tools people
// already use (curl, wget, aria2), by the rules of gRPC's Download and Upload — the same
// steps of FileService: names through the one validator, regular files in the share only,
// temporaries, fsync and an atomic rename, max_transfers, max_upload_rate,
// max_upload_bytes, the upload token. gRPC stays the path between peers.
#pragma once

#include <asio/awaitable.hpp>
#include <string_view>

#include "core/metrics.hpp"
#include "http/message.hpp"
#include "transfer/file_service.hpp"

namespace p2p {

class HttpFiles {
 public:
  explicit HttpFiles(FileService& files) : files_(files) {}

  // GET and HEAD /archivos/NAME (`encoded`: NAME as in the path, percent-encoded): the
  // file, or one range of it, with its validators; conditional requests honoured.
  http::Response get(const http::Request& req, std::string_view encoded);
  // PUT /archivos/NAME: the body, streamed to a temporary, becomes the file NAME.
  asio::awaitable<http::Response> put(http::Request& req, std::string_view encoded);

  uint64_t sent_bytes() const { return sent_.value(); }

  // p2p_http_file_sent_bytes_total, p2p_http_file_received_bytes_total.
  void write_metrics(metrics::Exposition& e) const;

 private:
  FileService& files_;
  metrics::Counter sent_;
  metrics::Counter received_;
};

}  // namespace p2p
