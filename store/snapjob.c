/* snapjob.c: an encoded copy of a memory image as it was at one instant,
 * made off the loop.
 *
 * The state machine is one sqlite memdb buffer that every applied entry
 * changes. A raft snapshot needs that buffer as it was at one log index,
 * and copying 300 MB on the loop stalls every request for ~170 ms (and a
 * leader stalled past its election timeout steps down). So the copy is
 * taken the way redis takes its RDB: fork. The child shares the parent's
 * pages copy-on-write, so it sees the image frozen at the fork while the
 * parent applies on; it encodes the image (snapimg.c: LZ4) into a shared
 * anonymous mapping made before the fork, and exits. The loop pays for the
 * fork (copying page tables: a few ms for a few hundred MB), the encoding
 * runs on another core, and the wait for the child runs on libuv's thread
 * pool (raft's snapshot_async).
 *
 * The child only calls LZ4 (with a state buffer we give it), memcpy and raw
 * system calls: the parent has other threads (libuv's pool), so a lock they
 * held at the fork (malloc's, the sanitizers') stays held forever in the
 * child. It blocks every signal (a terminal's Ctrl-C goes to the whole
 * process group, and berthd's handlers would write into pipes the child
 * shares with its parent), closes every descriptor (a socket the parent
 * closes must really close), and dies with its parent.
 *
 * Mapping layout: [encoded image: snapimg_bound(len)] [LZ4 state]
 * [u64 encoded length, written last by the child]. */
#define _GNU_SOURCE
#include "store/snapjob.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/errors.h"
#include "store/snapimg.h"

/* The copier's nice value. At 19 it gets ~1.5% of a core the loop wants
 * (CFS weights 15 : 1024), so a busy loop is not slowed by it. */
#define SNAPJOB_NICE 19

struct snapjob {
    void *map;    /* MAP_SHARED: the child's writes are the parent's data */
    size_t maplen;
    size_t state_off, len_off;
    size_t len;   /* encoded length, once waited for */
    pid_t pid;    /* 0 once reaped */
    int status;   /* result of snapjob_wait */
};

static _Noreturn void child_encode(struct snapjob *j, const void *img,
                                   size_t len, pid_t parent)
{
    syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (syscall(SYS_getppid) != parent) /* the parent died before prctl */
        syscall(SYS_exit_group, 1);
    syscall(SYS_close_range, 0U, ~0U, 0U); /* ENOSYS on old kernels: fine */
    /* the loop comes first: under load the copy waits for spare CPU */
    syscall(SYS_setpriority, PRIO_PROCESS, 0, SNAPJOB_NICE);
    char *m = j->map;
    uint64_t n = snapimg_encode(img, len, m, m + j->state_off);
    memcpy(m + j->len_off, &n, sizeof n);
    syscall(SYS_exit_group, 0);
    __builtin_unreachable();
}

int snapjob_start(const void *img, size_t len, struct snapjob **out)
{
    size_t bound = snapimg_bound(len);
    sigset_t all, old;

    if (!bound)
        return BE_TOOBIG;
    struct snapjob *j = calloc(1, sizeof *j);
    if (!j)
        return BE_NOMEM;
    j->state_off = (bound + 63) & ~(size_t)63;
    j->len_off = (j->state_off + snapimg_state_size() + 7) & ~(size_t)7;
    j->maplen = j->len_off + sizeof(uint64_t);
    j->map = mmap(NULL, j->maplen, PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (j->map == MAP_FAILED) {
        free(j);
        return BE_NOMEM;
    }
    /* blocked across the fork, so no signal reaches the child before it
     * has them blocked for good (it never unblocks) */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        child_encode(j, img, len, parent);
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        munmap(j->map, j->maplen);
        free(j);
        return err == ENOMEM || err == EAGAIN ? BE_NOMEM : BE_INTERNAL;
    }
    j->pid = pid;
    *out = j;
    return 0;
}

static int reap(pid_t pid)
{
    int st;
    pid_t r;
    do
        r = waitpid(pid, &st, 0);
    while (r < 0 && errno == EINTR);
    if (r != pid)
        return BE_INTERNAL;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : BE_INTERNAL;
}

int snapjob_wait(struct snapjob *j)
{
    if (!j->pid)
        return j->status;
    j->status = reap(j->pid);
    j->pid = 0;
    if (j->status == 0) {
        uint64_t n;
        memcpy(&n, (char *)j->map + j->len_off, sizeof n);
        if (n == 0 || n > j->state_off) /* the child died before writing it */
            j->status = BE_INTERNAL;
        else
            j->len = (size_t)n;
    }
    return j->status;
}

void *snapjob_data(struct snapjob *j)
{
    return j->map;
}

size_t snapjob_len(struct snapjob *j)
{
    return j->len;
}

void snapjob_free(struct snapjob *j)
{
    if (!j)
        return;
    if (j->pid) {
        kill(j->pid, SIGKILL);
        reap(j->pid);
    }
    munmap(j->map, j->maplen);
    free(j);
}

/* Unmapping the copy frees every page the copier wrote: ~6 ms on the loop
 * for the 25 MB image of a 440 MB database here, more with a bigger one. */
struct unmap_req {
    uv_work_t work;
    struct snapjob *j;
};

static void unmap_work(uv_work_t *w)
{
    struct unmap_req *u = w->data;
    munmap(u->j->map, u->j->maplen);
}

static void unmap_done(uv_work_t *w, int status)
{
    struct unmap_req *u = w->data;
    (void)status; /* queued work is never cancelled */
    free(u->j);
    free(u);
}

void snapjob_free_async(struct snapjob *j, uv_loop_t *loop)
{
    if (!j)
        return;
    struct unmap_req *u = j->pid || !loop ? NULL : malloc(sizeof *u);
    if (u) {
        u->work.data = u;
        u->j = j;
        if (uv_queue_work(loop, &u->work, unmap_work, unmap_done) == 0)
            return;
        free(u);
    }
    snapjob_free(j); /* the copier still runs, or no way to queue: here */
}
