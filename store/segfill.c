/* segfill.c: raft's open log segments preallocated as written extents.
 *
 * Why: raft 0.15's libuv I/O submits each batch of log entries with kernel
 * AIO and RWF_NOWAIT from the loop, and when the kernel answers EAGAIN it
 * learns so on the next loop iteration and redoes the write on its thread
 * pool. It preallocates every open segment with posix_fallocate(), and on
 * ext4 (XFS too) a fallocated range is "unwritten": the first write into it
 * converts the extent in a journal transaction, which a NOWAIT write may
 * not wait for. So every append failed once and took a loop iteration and
 * a thread hop before it reached the disk (strace: every write). raft's
 * start-up probe cannot see it: it writes a block before it tries NOWAIT on
 * that same, by then written, block. 0.15 has no setting for any of this.
 *
 * How: berthd defines posix_fallocate(). A definition in the executable is
 * the one libraft's call binds to (ELF symbol interposition; the executable
 * comes first in the lookup order), so for a file named open-N in a
 * directory the store registered, it writes zeros over the range and syncs
 * them instead. The file has the same size and content as after
 * posix_fallocate(), its extents are written, and NOWAIT appends into them
 * complete without a thread. Any other file, and any fd this cannot
 * handle, goes to libc's posix_fallocate (dlsym RTLD_NEXT). raft prepares
 * segments ahead of use on its thread pool, which is where this runs: a
 * 64 MiB segment costs ~60-70 ms of background writing here. Measured
 * effect: docs/benchmarks.md, "Sixth session". The store's tests check the
 * extents of the segments a real raft made (test_store_segfill). */
#define _GNU_SOURCE
#include "store/segfill.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/errors.h"

#define SEGFILL_DIRS 16

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static char *registry[SEGFILL_DIRS]; /* realpath()s, NULL: free slot */

int segfill_register(const char *dir)
{
    char *path = realpath(dir, NULL);
    if (!path)
        return BE_INVAL;
    int slot = BE_UNAVAIL;
    pthread_mutex_lock(&registry_mu);
    for (int i = 0; i < SEGFILL_DIRS && slot < 0; i++)
        if (!registry[i]) {
            registry[i] = path;
            slot = i;
        }
    pthread_mutex_unlock(&registry_mu);
    if (slot < 0)
        free(path);
    return slot;
}

void segfill_unregister(int slot)
{
    if (slot < 0 || slot >= SEGFILL_DIRS)
        return;
    pthread_mutex_lock(&registry_mu);
    free(registry[slot]);
    registry[slot] = NULL;
    pthread_mutex_unlock(&registry_mu);
}

/* raft_uv names its open segments "open-<counter>". */
static int is_open_segment_name(const char *base)
{
    if (strncmp(base, "open-", 5) || !base[5])
        return 0;
    for (const char *p = base + 5; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return 1;
}

int segfill_applies(int fd)
{
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0 || n == (ssize_t)sizeof path - 1)
        return 0;
    path[n] = 0;
    char *slash = strrchr(path, '/');
    if (!slash || !is_open_segment_name(slash + 1))
        return 0;
    *slash = 0; /* path is now the directory */
    int found = 0;
    pthread_mutex_lock(&registry_mu);
    for (int i = 0; i < SEGFILL_DIRS && !found; i++)
        found = registry[i] && !strcmp(registry[i], path[0] ? path : "/");
    pthread_mutex_unlock(&registry_mu);
    return found;
}

/* 0, or an errno value as posix_fallocate returns them. */
static int fill_zeros(int fd, off_t offset, off_t len)
{
    static char zeros[256 << 10]; /* never written: reads of it cost nothing */
    off_t done = 0;
    while (done < len) {
        size_t chunk = len - done < (off_t)sizeof zeros ? (size_t)(len - done) : sizeof zeros;
        ssize_t n = pwrite(fd, zeros, chunk, offset + done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EIO;
        done += n;
    }
    return fdatasync(fd) ? errno : 0;
}

typedef int (*fallocate_fn)(int, off_t, off_t);
static fallocate_fn libc_fallocate;
static pthread_once_t libc_once = PTHREAD_ONCE_INIT;

static void find_libc_fallocate(void)
{
    libc_fallocate = (fallocate_fn)dlsym(RTLD_NEXT, "posix_fallocate");
}

int posix_fallocate(int fd, off_t offset, off_t len)
{
    if (offset >= 0 && len > 0 && segfill_applies(fd)) {
        int rc = fill_zeros(fd, offset, len);
        if (rc != EINVAL && rc != EBADF) /* EINVAL: say an O_DIRECT fd; let libc try */
            return rc;
    }
    pthread_once(&libc_once, find_libc_fallocate);
    return libc_fallocate ? libc_fallocate(fd, offset, len) : ENOSYS;
}
