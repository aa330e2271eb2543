// LD_PRELOAD fault injection for the cache stress test where no small file system can be
// mounted (not root): write() to a file under $TESSEL_TEST_ENOSPC_DIR fails with ENOSPC once
// this process has written $TESSEL_TEST_ENOSPC_BYTES bytes there — a disk that fills up while
// a writer is in the middle of an entry. Other files (stdout, the test's own) are untouched.
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atomic>

namespace {

using WriteFn = ssize_t (*)(int, const void*, size_t);

std::atomic<long long> written{0};

bool under_faulty_dir(int fd) {
  const char* dir = getenv("TESSEL_TEST_ENOSPC_DIR");
  if (!dir || !*dir)
    return false;
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0)
    return false;
  path[n] = '\0';
  return strncmp(path, dir, strlen(dir)) == 0;
}

} // namespace

extern "C" ssize_t write(int fd, const void* buf, size_t count) {
  static WriteFn real = reinterpret_cast<WriteFn>(dlsym(RTLD_NEXT, "write"));
  if (under_faulty_dir(fd)) {
    const char* budget = getenv("TESSEL_TEST_ENOSPC_BYTES");
    long long limit = budget ? atoll(budget) : 0;
    if (written.fetch_add((long long)count) + (long long)count > limit) {
      errno = ENOSPC;
      return -1;
    }
  }
  return real(fd, buf, count);
}
