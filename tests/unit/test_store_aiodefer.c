/* test_store_aiodefer.c: berthd's syscall() (store/aiodefer.c). Every
 * system call passes through with all six arguments; io_destroy runs in
 * place until a raft instance has started, then on a helper thread, which
 * really destroys the context; and in place again while one is closing. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "store/aiodefer.h"
#include "unit.h"

static aio_context_t new_ctx(void)
{
    aio_context_t ctx = 0;
    CHECK_INT(syscall(SYS_io_setup, 8, &ctx), 0);
    return ctx;
}

/* A context that is gone fails io_getevents with EINVAL; a live one
 * answers "no events" at once. */
static bool ctx_gone(aio_context_t ctx)
{
    struct timespec zero = {0, 0};
    struct io_event ev;
    errno = 0;
    return syscall(SYS_io_getevents, ctx, 0L, 1L, &ev, &zero) == -1 && errno == EINVAL;
}

static void test_passthrough(void)
{
    CHECK_INT(syscall(SYS_getpid), getpid());
    errno = 0;
    CHECK_INT(syscall(SYS_close, -1), -1);
    CHECK_INT(errno, EBADF);
    /* mmap takes six arguments; the sixth (the offset) must arrive */
    char path[] = "/tmp/berth-aiodefer-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    char page[8192];
    memset(page, 'a', 4096);
    memset(page + 4096, 'b', 4096);
    CHECK_INT(write(fd, page, sizeof page), sizeof page);
    long p = syscall(SYS_mmap, 0L, 4096L, (long)PROT_READ, (long)MAP_PRIVATE, (long)fd, 4096L);
    CHECK(p != -1);
    if (p != -1) {
        CHECK_INT(((const char *)p)[0], 'b');
        munmap((void *)p, 4096);
    }
    close(fd);
    unlink(path);
}

/* A new context's io_destroy runs in place: nothing deferred, and the
 * context is gone when the call returns. */
static void check_destroy_in_place(void)
{
    unsigned long n = aiodefer_count();
    aio_context_t ctx = new_ctx();
    CHECK_INT(syscall(SYS_io_destroy, ctx), 0);
    CHECK_INT(aiodefer_count(), n);
    CHECK(ctx_gone(ctx));
}

static void test_destroy_in_place(void)
{
    check_destroy_in_place();
}

static void test_destroy_deferred(void)
{
    aiodefer_start();
    unsigned long n = aiodefer_count();
    aio_context_t ctx = new_ctx();
    CHECK_INT(syscall(SYS_io_destroy, ctx), 0);
    CHECK_INT(aiodefer_count(), n + 1);
    CHECK(aiodefer_pending() == 0 || !ctx_gone(ctx)); /* not gone before its turn */
    /* the helper destroys it soon (an RCU grace period: tens of ms) */
    struct timespec ms = {0, 1000000};
    for (int i = 0; i < 10000 && aiodefer_pending() > 0; i++)
        nanosleep(&ms, NULL);
    CHECK_INT(aiodefer_pending(), 0);
    CHECK(ctx_gone(ctx));

    /* while an instance closes, in place again */
    aiodefer_closing();
    check_destroy_in_place();
    CHECK_INT(aiodefer_pending(), 0);
    aiodefer_stop();

    /* and after the last one stopped */
    check_destroy_in_place();
    CHECK_INT(aiodefer_count(), n + 1);
}

int main(void)
{
    RUN(test_passthrough);
    RUN(test_destroy_in_place);
    RUN(test_destroy_deferred);
    UNIT_EXIT();
}
