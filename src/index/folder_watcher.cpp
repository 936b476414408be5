#include "index/folder_watcher.hpp"

#include <spdlog/spdlog.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <array>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/dispatch.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <system_error>

#include "core/names.hpp"

namespace p2p {
namespace {

constexpr uint32_t kMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE |
                           IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

// A limit, not a fault: too many inotify instances (EMFILE: fs.inotify.max_user_instances)
// or watches (ENOSPC: max_user_watches), or the system out of them.
bool is_limit(int err) { return err == EMFILE || err == ENFILE || err == ENOSPC || err == ENOMEM; }

std::string proc_value(const char* path) {
  std::string v;
  if (FILE* f = std::fopen(path, "re")) {
    char line[64];
    if (std::fgets(line, sizeof line, f)) v = line;
    std::fclose(f);
  }
  while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
  return v.empty() ? "?" : v;
}

void warn_polling(const std::filesystem::path& folder, const char* what, int err) {
  spdlog::warn(
      "Cannot watch {} with inotify ({}: {}): rescanning it every {} s instead, so changes "
      "show up that much later. Each peer takes one inotify instance; raise the limit "
      "(fs.inotify.max_user_instances = {}, fs.inotify.max_user_watches = {}) to watch it live",
      folder.string(), what, std::strerror(err), FolderWatcher::kPollEvery.count(),
      proc_value("/proc/sys/fs/inotify/max_user_instances"),
      proc_value("/proc/sys/fs/inotify/max_user_watches"));
}

// The inotify descriptor watching `folder`, or -1 (having warned) when a limit leaves none.
int watch_folder(const std::filesystem::path& folder) {
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (!is_limit(err)) throw std::system_error(err, std::generic_category(), "inotify_init1");
    warn_polling(folder, "inotify_init1", err);
    return -1;
  }
  if (::inotify_add_watch(fd, folder.c_str(), kMask) < 0) {
    const int err = errno;
    ::close(fd);
    if (!is_limit(err))
      throw std::system_error(err, std::generic_category(), "inotify_add_watch " + folder.string());
    warn_polling(folder, "inotify_add_watch", err);
    return -1;
  }
  return fd;
}

// Reads the event at `p` into `pending` (or `rescan`); returns its size. A plain function:
// inotify_event ends in a flexible array, which a coroutine frame cannot hold.
ssize_t read_event(const char* p, std::set<std::string>& pending, bool& rescan,
                   const std::filesystem::path& folder) {
  inotify_event ev;
  std::memcpy(&ev, p, sizeof ev);
  if (ev.mask & IN_Q_OVERFLOW) rescan = true;
  if (ev.mask & (IN_DELETE_SELF | IN_MOVE_SELF))
    spdlog::error("The shared folder {} was removed or moved away", folder.string());
  if (ev.len > 0) {
    const char* name = p + sizeof ev;
    std::string n(name, ::strnlen(name, ev.len));
    if (!is_temp_name(n)) pending.insert(std::move(n));
  }
  return static_cast<ssize_t>(sizeof ev + ev.len);
}

}  // namespace

FolderWatcher::FolderWatcher(asio::any_io_executor ex, FileIndex& index)
    : index_(index), fd_(asio::make_strand(ex)), poll_timer_(fd_.get_executor()) {
  if (const int fd = watch_folder(index.folder()); fd >= 0) fd_.assign(fd);
}

void FolderWatcher::start() {
  // fd_ is open unless inotify had no instance or watch left.
  asio::co_spawn(fd_.get_executor(), fd_.is_open() ? run() : poll(), asio::detached);
}

void FolderWatcher::stop() {
  asio::dispatch(fd_.get_executor(), [this] {
    stopped_ = true;
    std::error_code ignored;
    fd_.close(ignored);
    poll_timer_.cancel();
  });
}

asio::awaitable<void> FolderWatcher::poll() {
  while (!stopped_) {
    poll_timer_.expires_after(kPollEvery);
    auto [ec] = co_await poll_timer_.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    if (ec || stopped_) co_return;
    index_.rescan();
  }
}

asio::awaitable<void> FolderWatcher::run() {
  // A coroutine frame does not keep over-aligned locals aligned: events are copied out of
  // the buffer, never cast in place.
  std::array<char, 64 * 1024> buf;
  asio::steady_timer settle(fd_.get_executor());
  std::set<std::string> pending;
  bool rescan = false;
  for (;;) {
    // Wait for the first event, then keep reading what arrives within kSettle.
    auto deadline = std::chrono::steady_clock::time_point::max();
    for (;;) {
      if (pending.empty() && !rescan) {
        auto [ec] = co_await fd_.async_wait(asio::posix::descriptor_base::wait_read,
                                            asio::experimental::as_tuple(asio::use_awaitable));
        if (ec) co_return;
        deadline = std::chrono::steady_clock::now() + kSettle;
      } else if (std::chrono::steady_clock::now() >= deadline) {
        break;
      } else {
        settle.expires_at(deadline);
        co_await settle.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
        if (!fd_.is_open()) co_return;
      }
      for (;;) {
        const ssize_t n = ::read(fd_.native_handle(), buf.data(), buf.size());
        if (n <= 0) break;
        for (ssize_t off = 0; off < n;) {
          off += read_event(buf.data() + off, pending, rescan, index_.folder());
        }
      }
    }
    if (rescan) {
      index_.rescan();
    } else if (!pending.empty()) {
      index_.refresh(std::vector<std::string>(pending.begin(), pending.end()));
    }
    pending.clear();
    rescan = false;
  }
}

}  // namespace p2p
