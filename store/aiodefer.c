/* aiodefer.c: raft_uv's kernel AIO contexts destroyed off the loop.
 *
 * Why: raft 0.15's libuv I/O gives every open log segment its own AIO
 * context and destroys it on the loop when the segment is closed.
 * io_destroy(2) waits for an RCU grace period before it returns, and on a
 * busy two-core machine that took 25-40 ms (`perf trace`, docs/
 * benchmarks.md "Eighth session"): under full write load every ~2.5 s the
 * loop answered nobody, and every create in flight waited that long. A
 * leader whose loop stalls like that also sends no heartbeat. raft 0.15 has
 * no setting for it.
 *
 * How: libraft calls io_destroy as syscall(__NR_io_destroy, ctx), through
 * the PLT. berthd defines syscall(); a definition in the executable is the
 * one libraft binds to (ELF symbol interposition, as store/segfill.c does
 * for posix_fallocate). It passes every call to libc's syscall() (found
 * with dlsym(RTLD_NEXT) at start-up, so the path needs no lock: a forked
 * child calls syscall() too, see store/snapjob.c), except io_destroy while
 * deferring is on: that one goes to a detached helper thread and returns 0
 * at once. raft ignores what io_destroy returns.
 *
 * When it is safe: io_destroy also cancels the context's writes in flight
 * and waits for them, and raft_uv frees a segment's write buffer after it
 * returns. When raft_uv closes a full segment, nothing is in flight (the
 * segment is closed after its last write completed); only a close of
 * raft_uv itself may cancel a write. So deferring is off while any raft
 * instance is closing (aiodefer_closing), and those destroys run in place.
 * If a later libraft stops calling syscall() for this, only the stall comes
 * back; test_store_disk checks that its contexts do come through here. */
#define _GNU_SOURCE
#include "store/aiodefer.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef long (*syscall_fn)(long number, ...);
static syscall_fn libc_syscall;

static atomic_int started, closing;
static atomic_ulong deferred;
static atomic_uint in_progress;

__attribute__((constructor)) static void find_libc_syscall(void)
{
    if (!libc_syscall)
        libc_syscall = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
}

void aiodefer_start(void)
{
    atomic_fetch_add(&started, 1);
}

void aiodefer_closing(void)
{
    atomic_fetch_add(&closing, 1);
}

void aiodefer_stop(void)
{
    atomic_fetch_sub(&closing, 1);
    atomic_fetch_sub(&started, 1);
}

unsigned long aiodefer_count(void)
{
    return atomic_load(&deferred);
}

unsigned aiodefer_pending(void)
{
    return atomic_load(&in_progress);
}

static void *destroy_main(void *arg)
{
    libc_syscall(SYS_io_destroy, (long)(uintptr_t)arg);
    atomic_fetch_sub(&in_progress, 1);
    return NULL;
}

/* 0 once a helper thread has the context; -1: destroy it in place. */
static int destroy_later(long ctx)
{
    pthread_attr_t attr;
    sigset_t all;
    pthread_t t;
    if (pthread_attr_init(&attr))
        return -1;
    sigfillset(&all);
    /* the process's signals are the loop's business, not this thread's */
    int rc = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) ||
             pthread_attr_setstacksize(&attr, 64 << 10) ||
             pthread_attr_setsigmask_np(&attr, &all);
    atomic_fetch_add(&in_progress, 1);
    if (!rc)
        rc = pthread_create(&t, &attr, destroy_main, (void *)(uintptr_t)ctx);
    pthread_attr_destroy(&attr);
    if (rc) {
        atomic_fetch_sub(&in_progress, 1);
        return -1;
    }
    atomic_fetch_add(&deferred, 1);
    return 0;
}

/* glibc's syscall() reads all six argument registers and the stack slot of
 * the sixth whatever the call passed; so does this (no_sanitize_address:
 * that slot is the caller's frame). */
__attribute__((no_sanitize_address)) long syscall(long number, ...)
{
    va_list ap;
    va_start(ap, number);
    long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long);
    long a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
    va_end(ap);
    if (!libc_syscall)
        find_libc_syscall(); /* before the constructors ran: one thread */
    if (number == SYS_io_destroy && atomic_load(&started) > 0 &&
        atomic_load(&closing) == 0 && destroy_later(a1) == 0)
        return 0;
    return libc_syscall(number, a1, a2, a3, a4, a5, a6);
}
