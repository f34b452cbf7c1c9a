/* snapput.c: raft snapshots written beside the log, not in front of it
 * (see snapput.h for why).
 *
 * The files are raft_uv's (0.15, on-disk format 1):
 *   snapshot-TERM-INDEX-MS.meta  u64 format (1), u64 CRC, u64 configuration
 *                                index, u64 configuration length, then the
 *                                configuration as raft_configuration_encode
 *                                gives it; all little-endian; the CRC covers
 *                                the last two header words and the
 *                                configuration.
 *   snapshot-TERM-INDEX-MS       the state machine's buffers, as they are.
 * Each is written to a temporary name, fsynced and renamed into place, meta
 * first: raft_uv ignores a .meta whose data file is missing or empty, so a
 * crash at any point leaves the previous snapshot in charge. Then, as
 * raft_uv does, all but the two newest snapshots are removed, and every
 * closed segment ("%016llu-%016llu") that ends before the `trailing`
 * entries raft keeps. Open segments ("open-N") are never touched, and
 * neither is any segment raft_uv could still truncate: a truncation is
 * always above the commit index, and a snapshot is of applied entries.
 *
 * The writer always keeps the newest closed segment, which numbers the
 * open ones (see remove_old). Where there is none (a member that joined with an
 * empty directory, or right after raft_uv installed a leader's snapshot and
 * deleted them all), the snapshot goes through raft_uv's own put once: its
 * barrier closes the open segment, and the writer takes over.
 *
 * raft core has at most one snapshot put in flight, and refuses to install
 * one from a leader while taking its own, so the writer and raft_uv's put
 * never run at once. A close waits for the writer: raft owns the buffers
 * until the put's callback. */
#define _GNU_SOURCE
#include "store/snapput.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "store/le.h"
#include "store/raftheap.h"

#define TMP_NAME "berth-snapshot.tmp"
#define DISK_FORMAT 1
#define NAME_MAX_LEN 128
/* Start writeback every few MiB, so the final fsync is short and the disk
 * sees a steady stream instead of a burst that queues the log's writes. */
#define WRITEBACK_STEP (8u << 20)

static unsigned long long newest_closed_end(DIR *d);

uint32_t snapput_crc32(const void *buf, size_t len, uint32_t crc)
{
    const uint8_t *p = buf;
    while (len--) {
        crc ^= (uint32_t)*p++ << 24;
        for (int i = 0; i < 8; i++)
            crc = (crc & 0x80000000u) ? (crc << 1) ^ 0x04c11db7u : crc << 1;
    }
    return crc;
}

int snapput_init(struct snapput *sp, struct raft_io *io, uv_loop_t *loop,
                 const char *dir)
{
    memset(sp, 0, sizeof *sp);
    sp->dir = strdup(dir);
    if (!sp->dir)
        return RAFT_NOMEM;
    sp->loop = loop;
    sp->io = io;
    sp->inner_put = io->snapshot_put;
    sp->inner_close = io->close;
    /* a temporary file left by a crash mid-write */
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, TMP_NAME) < (int)sizeof path)
        unlink(path);
    /* Start-up, before raft loads: a joining member's empty directory has
     * no closed segment yet (a bootstrapped one has 1-1). raft_uv's load
     * closes the open segments it finds, so "none now" is cautious. */
    DIR *d = opendir(dir);
    if (d) {
        sp->anchored = newest_closed_end(d) > 0;
        closedir(d);
    }
    return 0;
}

void snapput_free(struct snapput *sp)
{
    free(sp->dir);
    sp->dir = NULL;
}

/* ---- on the thread pool ------------------------------------------------ */

static int write_all(int fd, const void *buf, size_t len, off_t *off)
{
    const char *p = buf;
    while (len > 0) {
        size_t chunk = len < WRITEBACK_STEP ? len : WRITEBACK_STEP;
        ssize_t n = pwrite(fd, p, chunk, *off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        if ((*off + n) / WRITEBACK_STEP != *off / WRITEBACK_STEP)
            sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
        p += n;
        len -= (size_t)n;
        *off += n;
    }
    return 0;
}

/* Writes bufs to dir/name through TMP_NAME, durably. */
static int make_file(int dfd, const char *name, const struct raft_buffer *bufs,
                     unsigned n, char *errmsg, size_t errlen)
{
    int fd = openat(dfd, TMP_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(errmsg, errlen, "create %s: %s", TMP_NAME, strerror(errno));
        return -1;
    }
    off_t off = 0;
    int rc = 0;
    for (unsigned i = 0; i < n && rc == 0; i++)
        rc = write_all(fd, bufs[i].base, bufs[i].len, &off);
    if (rc == 0 && fdatasync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && renameat(dfd, TMP_NAME, dfd, name) != 0)
        rc = -errno;
    if (rc != 0) {
        snprintf(errmsg, errlen, "write %s: %s", name, strerror(-rc));
        unlinkat(dfd, TMP_NAME, 0);
        return -1;
    }
    return 0;
}

struct snap_name {
    unsigned long long term, index, ms;
};

static int snap_name_cmp(const void *a, const void *b)
{
    const struct snap_name *x = a, *y = b;
    if (x->term != y->term)
        return x->term < y->term ? -1 : 1;
    if (x->index != y->index)
        return x->index < y->index ? -1 : 1;
    return x->ms < y->ms ? -1 : x->ms > y->ms;
}

/* "%016llu-%016llu": a closed segment, the only kind ever removed here */
static bool closed_segment(const char *name, unsigned long long *end)
{
    if (strlen(name) != 33 || name[16] != '-')
        return false;
    for (int i = 0; i < 33; i++)
        if (i != 16 && (name[i] < '0' || name[i] > '9'))
            return false;
    *end = strtoull(name + 17, NULL, 10);
    return true;
}

static bool snapshot_meta(int dfd, const char *name, struct snap_name *s)
{
    int used = 0;
    if (sscanf(name, "snapshot-%llu-%llu-%llu.meta%n", &s->term, &s->index,
               &s->ms, &used) != 3 || used != (int)strlen(name))
        return false;
    /* as raft_uv: a .meta counts only with a non-empty data file */
    char data[NAME_MAX_LEN];
    struct stat st;
    snprintf(data, sizeof data, "snapshot-%llu-%llu-%llu", s->term, s->index, s->ms);
    return fstatat(dfd, data, &st, 0) == 0 && st.st_size > 0;
}

/* The end index of the newest closed segment in d (0: none). */
static unsigned long long newest_closed_end(DIR *d)
{
    unsigned long long newest = 0, end;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (closed_segment(e->d_name, &end) && end > newest)
            newest = end;
    rewinddir(d);
    return newest;
}

/* Keeps the two newest snapshots and the closed segments that hold any of
 * the `trailing` entries up to `index`, and always the newest closed
 * segment: an open segment does not record its first index, raft_uv's load
 * numbers its entries on from the newest closed one (with none left it
 * would number them from the snapshot or from 1, misplacing every entry).
 * raft_uv's own put never met this: its barrier closed the open segment
 * first. Returns 0 or -errno. */
static int remove_old(int dfd, unsigned long long index, unsigned trailing)
{
    int dfd2 = dup(dfd);
    DIR *d = dfd2 >= 0 ? fdopendir(dfd2) : NULL;
    if (!d) {
        int e = errno;
        if (dfd2 >= 0)
            close(dfd2);
        return -e;
    }
    struct snap_name *snaps = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    unsigned long long retain = index > trailing ? index - trailing + 1 : 0;
    unsigned long long newest = newest_closed_end(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        unsigned long long end;
        struct snap_name s;
        if (closed_segment(e->d_name, &end)) {
            if (end < retain && end != newest && unlinkat(dfd, e->d_name, 0) != 0 &&
                errno != ENOENT)
                rc = -errno;
        } else if (snapshot_meta(dfd, e->d_name, &s)) {
            if (n == cap) {
                size_t nc = cap ? 2 * cap : 8;
                struct snap_name *ns = realloc(snaps, nc * sizeof *ns);
                if (!ns) {
                    rc = -ENOMEM;
                    break;
                }
                snaps = ns;
                cap = nc;
            }
            snaps[n++] = s;
        }
    }
    closedir(d);
    qsort(snaps, n, sizeof *snaps, snap_name_cmp);
    for (size_t i = 0; i + 2 < n && rc == 0; i++) {
        char name[NAME_MAX_LEN];
        snprintf(name, sizeof name, "snapshot-%llu-%llu-%llu.meta", snaps[i].term,
                 snaps[i].index, snaps[i].ms);
        if (unlinkat(dfd, name, 0) != 0 && errno != ENOENT)
            rc = -errno;
        name[strlen(name) - 5] = '\0';
        if (unlinkat(dfd, name, 0) != 0 && errno != ENOENT)
            rc = -errno;
    }
    free(snaps);
    return rc;
}

static void put_work(uv_work_t *w)
{
    struct snapput *sp = w->data;
    const struct raft_snapshot *snap = sp->snapshot;
    char meta[NAME_MAX_LEN], data[NAME_MAX_LEN];
    uint8_t header[32];

    sp->status = RAFT_IOERR;
    int dfd = open(sp->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        snprintf(sp->errmsg, sizeof sp->errmsg, "open %s: %s", sp->dir, strerror(errno));
        return;
    }
    snprintf(data, sizeof data, "snapshot-%llu-%llu-%llu", (unsigned long long)snap->term,
             (unsigned long long)snap->index, (unsigned long long)sp->timestamp);
    snprintf(meta, sizeof meta, "%s.meta", data);

    le_put64(header, DISK_FORMAT);
    le_put64(header + 16, snap->configuration_index);
    le_put64(header + 24, sp->conf.len);
    uint32_t crc = snapput_crc32(header + 16, 16, 0);
    crc = snapput_crc32(sp->conf.base, sp->conf.len, crc);
    le_put64(header + 8, crc);
    struct raft_buffer mbufs[2] = {{header, sizeof header}, sp->conf};

    if (make_file(dfd, meta, mbufs, 2, sp->errmsg, sizeof sp->errmsg) != 0)
        goto out;
    if (make_file(dfd, data, snap->bufs, snap->n_bufs, sp->errmsg, sizeof sp->errmsg) != 0) {
        unlinkat(dfd, meta, 0);
        goto out;
    }
    if (fsync(dfd) != 0) {
        snprintf(sp->errmsg, sizeof sp->errmsg, "sync %s: %s", sp->dir, strerror(errno));
        goto out;
    }
    sp->status = 0; /* the snapshot is durable; what follows is tidying */
    int rc = remove_old(dfd, snap->index, sp->trailing);
    if (rc == 0 && fsync(dfd) != 0)
        rc = -errno;
    if (rc != 0)
        snprintf(sp->errmsg, sizeof sp->errmsg, "remove old snapshots and segments in %s: %s",
                 sp->dir, strerror(-rc));
out:
    close(dfd);
}

/* ---- on the loop --------------------------------------------------------- */

static void put_done(uv_work_t *w, int status)
{
    struct snapput *sp = w->data;
    struct raft_io_snapshot_put *req = sp->req;
    (void)status; /* queued work is never cancelled */
    if (sp->status != 0 || sp->errmsg[0])
        log_warn("store", "snapshot %llu: %s", (unsigned long long)sp->snapshot->index,
                 sp->errmsg);
    raft_free(sp->conf.base);
    sp->conf.base = NULL;
    sp->busy = false;
    /* raft now frees the entries the snapshot compacted: later, a few
     * thousand per tick, not all in this callback (raftheap.c) */
    raftheap_defer_begin();
    req->cb(req, sp->status);
    raftheap_defer_end();
    if (sp->close_cb) {
        raft_io_close_cb cb = sp->close_cb;
        sp->close_cb = NULL;
        sp->inner_close(sp->io, cb);
    }
}

int snapput_put(struct snapput *sp, unsigned trailing,
                struct raft_io_snapshot_put *req,
                const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb)
{
    if (trailing == 0) { /* installing a leader's snapshot: raft_uv resets the log */
        /* ... and deletes every closed segment: the open one, which starts
         * after the snapshot, has no anchor until a segment is closed again */
        sp->anchored = false;
        return sp->inner_put(sp->io, trailing, req, snapshot, cb);
    }
    if (!sp->anchored) {
        /* raft_uv's put closes the open segment first (its barrier), and
         * that closed segment anchors the next one */
        int rv = sp->inner_put(sp->io, trailing, req, snapshot, cb);
        if (rv == 0)
            sp->anchored = true;
        return rv;
    }
    if (sp->closing) /* raft may finish an asynchronous snapshot after close */
        return RAFT_CANCELED;
    if (sp->busy)
        return RAFT_BUSY;
    int rv = raft_configuration_encode(&snapshot->configuration, &sp->conf);
    if (rv != 0)
        return rv;
    req->cb = cb;
    sp->req = req;
    sp->snapshot = snapshot;
    sp->trailing = trailing;
    sp->timestamp = uv_now(sp->loop);
    sp->status = 0;
    sp->errmsg[0] = '\0';
    sp->work.data = sp;
    if (uv_queue_work(sp->loop, &sp->work, put_work, put_done) != 0) {
        raft_free(sp->conf.base);
        sp->conf.base = NULL;
        return RAFT_IOERR;
    }
    sp->busy = true;
    return 0;
}

void snapput_close(struct snapput *sp, raft_io_close_cb cb)
{
    sp->closing = true;
    if (sp->busy)
        sp->close_cb = cb; /* put_done closes raft_uv */
    else
        sp->inner_close(sp->io, cb);
}
