// p2p: the command-line client of p2p-share.
#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "cli/progress.hpp"
#include "transfer/client.hpp"

namespace {

using p2p::TransferClient;
using p2p::TransferResult;

// One exit status per kind of failure, so scripts can tell them apart.
enum Exit : int {
  kOk = 0,
  kFailed = 1,       // anything else
  kBadName = 2,      // invalid file name or usage
  kNotFound = 3,     // no such file
  kExists = 4,       // would replace an existing file
  kRefused = 5,      // the peer refused: permission, size limit, disk full
  kUnreachable = 6,  // no answer from the peer
  kCancelled = 130,  // Ctrl-C
};

int exit_for(const grpc::Status& s) {
  switch (s.error_code()) {
    case grpc::StatusCode::OK:
      return kOk;
    case grpc::StatusCode::INVALID_ARGUMENT:
      return kBadName;
    case grpc::StatusCode::NOT_FOUND:
      return kNotFound;
    case grpc::StatusCode::ALREADY_EXISTS:
      return kExists;
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::FAILED_PRECONDITION:
      return kRefused;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return kUnreachable;
    case grpc::StatusCode::CANCELLED:
      return kCancelled;
    default:
      return kFailed;
  }
}

const char* what_failed(const grpc::Status& s) {
  switch (exit_for(s)) {
    case kBadName:
      return "bad name";
    case kNotFound:
      return "not found";
    case kExists:
      return "exists";
    case kRefused:
      return "refused";
    case kUnreachable:
      return "unreachable";
    case kCancelled:
      return "cancelled";
    default:
      return "failed";
  }
}

int report(const grpc::Status& s) {
  std::fprintf(stderr, "p2p: %s: %s\n", what_failed(s), s.error_message().c_str());
  return exit_for(s);
}

// Ctrl-C or SIGTERM cancels the transfer in progress, so its temporary file is removed
// before the process exits. The signals are blocked before any thread exists (gRPC starts
// its own), and one thread takes them with sigwait.
class CancelOnSignal {
 public:
  CancelOnSignal() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::thread([set, this] {
      int sig = 0;
      sigwait(&set, &sig);
      std::lock_guard lock(mu_);
      signalled_ = true;
      if (client_) client_->cancel();
    }).detach();
  }
  void watch(TransferClient& client) {
    std::lock_guard lock(mu_);
    client_ = &client;
    if (signalled_) client.cancel();
  }

 private:
  std::mutex mu_;
  TransferClient* client_ = nullptr;
  bool signalled_ = false;
};

CancelOnSignal* on_signal = nullptr;

constexpr auto kConnectTimeout = std::chrono::milliseconds(5000);

int get_from(const std::string& name, const std::string& address, const std::string& out_dir,
             bool force) {
  TransferClient client(address);
  on_signal->watch(client);
  if (auto s = client.connect(kConnectTimeout); !s.ok()) return report(s);
  p2p::cli::ProgressBar bar(name);
  const TransferResult r = client.download_to_folder(
      name, out_dir, force, [&](uint64_t done, uint64_t total) { bar.update(done, total); });
  bar.finish();
  if (!r.status.ok()) return report(r.status);
  std::printf("%s (%s)\n", r.path.c_str(), p2p::cli::human_bytes(r.bytes).c_str());
  return kOk;
}

int put_to(const std::string& file, const std::string& address, std::string name) {
  if (name.empty()) name = std::filesystem::path(file).filename().string();
  TransferClient client(address);
  on_signal->watch(client);
  if (auto s = client.connect(kConnectTimeout); !s.ok()) return report(s);
  p2p::cli::ProgressBar bar(name);
  const TransferResult r = client.upload(
      file, name, 65536, false, [&](uint64_t done, uint64_t total) { bar.update(done, total); });
  bar.finish();
  if (!r.status.ok()) return report(r.status);
  std::printf("uploaded %s to %s as %s (%s)\n", file.c_str(), address.c_str(), name.c_str(),
              p2p::cli::human_bytes(r.bytes).c_str());
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  CancelOnSignal cancel_on_signal;
  on_signal = &cancel_on_signal;
  CLI::App app{"p2p: list, search, download and upload files on a p2p-share network"};
  app.require_subcommand(1);

  auto* get = app.add_subcommand("get", "download a file from a peer");
  std::string get_name, get_from_addr, get_out = ".";
  bool get_force = false;
  get->add_option("NAME", get_name, "file name")->required();
  get->add_option("--from", get_from_addr, "HOST:PORT of the peer's gRPC server")->required();
  get->add_option("-o,--output", get_out, "output folder (default: current folder)");
  get->add_flag("-f,--force", get_force, "replace an existing file in the output folder");

  auto* put = app.add_subcommand("put", "upload a file to a peer");
  std::string put_file, put_to_addr, put_as;
  put->add_option("FILE", put_file, "file to upload")->required();
  put->add_option("--to", put_to_addr, "HOST:PORT of the peer's gRPC server")->required();
  put->add_option("--as", put_as, "name on the peer (default: the file's own name)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kOk : kBadName;
  }
  if (*get) return get_from(get_name, get_from_addr, get_out, get_force);
  if (*put) return put_to(put_file, put_to_addr, put_as);
  return kFailed;
}
