// deny_syscall SYSCALL ERRNO PROGRAM [ARGS...]: runs PROGRAM with one system call failing
// with the given errno, as under a seccomp policy (Docker 25+ blocks io_uring_setup with
// EPERM) or a spent kernel limit (inotify_init1 fails with EMFILE past
// fs.inotify.max_user_instances). A test tool; it knows the calls and errnos tests use.
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>

namespace {

struct Named {
  const char* name;
  int value;
};

constexpr Named kCalls[] = {{"io_uring_setup", __NR_io_uring_setup},
                            {"inotify_init1", __NR_inotify_init1}};
constexpr Named kErrnos[] = {{"EPERM", EPERM}, {"EMFILE", EMFILE}, {"ENOSPC", ENOSPC}};

template <size_t N>
int lookup(const Named (&table)[N], const char* name) {
  for (const auto& n : table)
    if (std::strcmp(n.name, name) == 0) return n.value;
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  const int nr = argc >= 4 ? lookup(kCalls, argv[1]) : -1;
  const int err = argc >= 4 ? lookup(kErrnos, argv[2]) : -1;
  if (nr < 0 || err < 0) {
    std::fprintf(stderr,
                 "usage: deny_syscall io_uring_setup|inotify_init1 EPERM|EMFILE|ENOSPC "
                 "PROGRAM [ARGS...]\n");
    return 2;
  }
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(nr), 0, 1),
      BPF_STMT(BPF_RET | BPF_K,
               SECCOMP_RET_ERRNO | (static_cast<unsigned>(err) & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
    std::perror("deny_syscall: seccomp");
    return 2;
  }
  execv(argv[3], argv + 3);
  std::perror("deny_syscall: exec");
  return 2;
}
