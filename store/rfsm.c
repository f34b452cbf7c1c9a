/* rfsm.c: the store as raft's state machine (struct raft_fsm, version 3).
 *
 * apply runs each committed entry through the sqlite state machine
 * (fsm.c), wakes the watch hub and leaves the per-mutation results where
 * the proposer's callback finds them (store.c). Snapshots are taken without
 * stopping the loop: snapshot forks a copier of the database image
 * (snapjob.c), snapshot_async waits for it on libuv's thread pool, raft
 * writes it, snapshot_finalize drops it. The store, not raft's entry count,
 * decides when a snapshot is due (snapshot_policy). restore loads an image
 * a peer sent or a restart found. */
#include <assert.h>
#include <raft.h>
#include <stdlib.h>
#include <uv.h>

#include "common/errors.h"
#include "common/log.h"
#include "store/fsm.h"
#include "store/snapjob.h"
#include "store/store_int.h"
#include "store/watch.h"

/* When to snapshot. raft counts entries, but group commit makes entries of
 * very different sizes (one mutation or thousands), and raft keeps every
 * entry since the last snapshot in memory. So the store decides by bytes:
 * snapshot once the log since the last snapshot holds half as many bytes as
 * the database (at least SNAPSHOT_MIN_LOG_BYTES), which keeps the cost of
 * copying amortized O(1) per byte written and the in-memory log at most
 * half the database (a log as large as the database was never reached by
 * creates alone: a row takes more room than its entry); or once it holds
 * cfg.snapshot_threshold entries, which bounds replay time after a restart.
 * It steers raft through its entry threshold: 1 means "at the next check",
 * a huge value "not yet". */
#define SNAPSHOT_MIN_LOG_BYTES (16u << 20)

static void snapshot_policy(struct store *s, size_t entry_bytes)
{
    s->log_bytes += entry_bytes;
    s->log_entries++;
    if (!s->raft)
        return;
    unsigned max_entries = s->cfg.snapshot_threshold ? s->cfg.snapshot_threshold : 65536;
    bool due = s->log_entries >= max_entries || s->snapshot_asap;
    /* The database size is asked for only when the log has grown past
     * half the size seen last time (PRAGMAs, not on every apply). */
    if (!due && s->log_bytes >= SNAPSHOT_MIN_LOG_BYTES &&
        2 * s->log_bytes >= s->db_bytes_seen) {
        s->db_bytes_seen = fsm_db_bytes(s->fsm);
        due = 2 * s->log_bytes >= s->db_bytes_seen;
    }
    if (due && s->loop && uv_now(s->loop) < s->snap_retry_ms)
        due = false; /* the last attempt failed: not at every entry */
    raft_set_snapshot_threshold(s->raft, due ? 1 : 1u << 30);
}

static int rfsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf,
                      void **result)
{
    struct store *s = fsm->data;
    int rc = fsm_apply(s->fsm, buf->base, buf->len, &s->out.res, &s->out.n);
    if (rc == BE_PROTO) {
        /* same bytes on every member: every member rejects it */
        log_warn("store", "rejected a malformed raft entry (%zu bytes)",
                 buf->len);
        s->out.res = NULL;
        s->out.n = 0;
    } else if (rc != 0) {
        /* the replicas would diverge: stop rather than serve wrong data */
        log_error("store", "cannot apply a raft entry: %s; aborting",
                  be_strerror(rc));
        abort();
    }
    s->out.rc = rc;
    *result = &s->out;
    if (s->loop)
        s->last_apply_ms = uv_now(s->loop);
    if (s->hub)
        watch_dispatch(s->hub);
    snapshot_policy(s, buf->len);
    return 0;
}

/* A failed snapshot is retried SNAPSHOT_RETRY_MS later (at the first
 * entry applied after that), not at every entry. */
#define SNAPSHOT_RETRY_MS 1000

static void snapshot_failed(struct store *s)
{
    s->snapshot_asap = true;
    s->snap_retry_ms = s->loop ? uv_now(s->loop) + SNAPSHOT_RETRY_MS : 0;
}

/* Snapshots are asynchronous (raft fsm version 3): rfsm_snapshot, on the
 * loop, forks a copier of the database image as of this index (snapjob.c);
 * rfsm_snapshot_async, on the thread pool, waits for the copy; raft writes
 * it to disk and rfsm_snapshot_finalize, on the loop, drops it. Applies go
 * on meanwhile; raft takes one snapshot at a time. */
static int rfsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[],
                         unsigned *n_bufs)
{
    struct store *s = fsm->data;
    const void *img;
    size_t len;
    assert(!s->snap);
    if (s->raft)
        raft_set_snapshot_threshold(s->raft, 1u << 30);
    uint64_t t0 = uv_hrtime();
    int rc = fsm_image(s->fsm, &img, &len);
    if (rc == 0)
        rc = snapjob_start(img, len, &s->snap);
    if (rc == 0 && !s->rfsm.snapshot_async && (rc = snapjob_wait(s->snap))) {
        snapjob_free(s->snap);
        s->snap = NULL;
    }
    if (rc != 0) {
        log_error("store", "snapshot: cannot copy the database: %s",
                  be_strerror(rc));
        snapshot_failed(s);
        return rc == BE_NOMEM ? RAFT_NOMEM : RAFT_IOERR;
    }
    s->log_bytes = 0;
    s->log_entries = 0;
    s->db_bytes_seen = 0;
    s->snapshot_asap = false;
    s->snap_len = len;
    s->snap_t0 = t0;
    s->snap_fork_ns = uv_hrtime() - t0;
    s->snap_buf.base = snapjob_data(s->snap);
    s->snap_buf.len = s->rfsm.snapshot_async ? 0 : snapjob_len(s->snap);
    *bufs = &s->snap_buf;
    *n_bufs = 1;
    return 0;
}

static int rfsm_snapshot_async(struct raft_fsm *fsm, struct raft_buffer *bufs[],
                               unsigned *n_bufs)
{
    struct store *s = fsm->data;
    assert(*bufs == &s->snap_buf && *n_bufs == 1);
    if (snapjob_wait(s->snap) != 0)
        return RAFT_IOERR;
    s->snap_buf.len = snapjob_len(s->snap);
    s->snap_copied_ns = uv_hrtime(); /* read on the loop after this returns */
    return 0;
}

static int rfsm_snapshot_finalize(struct raft_fsm *fsm,
                                  struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct store *s = fsm->data;
    int rc = s->snap ? snapjob_wait(s->snap) : BE_INTERNAL;
    if (rc == 0) {
        s->snapshots++;
        uint64_t now = uv_hrtime();
        uint64_t copied = s->snap_copied_ns ? s->snap_copied_ns : s->snap_t0;
        log_info("store", "snapshot: %zu MB (%zu MB compressed), fork %.1f ms "
                 "on the loop, copied in %.0f ms, written in %.0f ms",
                 s->snap_len >> 20, snapjob_len(s->snap) >> 20,
                 (double)s->snap_fork_ns / 1e6,
                 (double)(copied - s->snap_t0) / 1e6,
                 (double)(now - copied) / 1e6);
        s->snap_copied_ns = 0;
    } else {
        log_error("store", "snapshot: the copy failed");
        snapshot_failed(s);
    }
    snapjob_free_async(s->snap, s->loop);
    s->snap = NULL;
    *bufs = NULL;
    *n_bufs = 0;
    /* raft has dropped the log entries the snapshot covers; their memory
     * goes back to the OS once the store is idle (malloc_trim walks the
     * whole heap holding malloc's lock: ~100 ms at 300 MB) */
    s->trim_due = true;
    return 0;
}

static int rfsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct store *s = fsm->data;
    int rc = fsm_restore(s->fsm, buf->base, buf->len);
    if (rc != 0) /* raft frees buf when restore fails */
        return rc == BE_NOMEM ? RAFT_NOMEM : RAFT_MALFORMED;
    raft_free(buf->base);
    if (s->hub)
        watch_reset(s->hub, fsm_revision(s->fsm));
    log_info("store", "restored a snapshot at revision %llu (%llu objects)",
             (unsigned long long)fsm_revision(s->fsm),
             (unsigned long long)fsm_count(s->fsm));
    return 0;
}

void store_rfsm_init(struct store *s)
{
    s->rfsm.version = 3;
    s->rfsm.data = s;
    s->rfsm.apply = rfsm_apply;
    s->rfsm.snapshot = rfsm_snapshot;
    s->rfsm.restore = rfsm_restore;
    s->rfsm.snapshot_finalize = rfsm_snapshot_finalize;
    s->rfsm.snapshot_async = rfsm_snapshot_async;
}
