/* store.c: the public store API (store.h) over raft, the sqlite state
 * machine (fsm.c) and the watch hub (watch.c).
 *
 * Group commit: store_propose() encodes the batch straight into the tail of
 * a pending entry buffer (raft_malloc'd) and records the proposer's callback
 * and mutation count. A uv_check handle (plus an idle handle that keeps the
 * loop from blocking in poll meanwhile) flushes pending entries at the end
 * of the loop iteration, each as one raft_apply of one buffer, while fewer
 * than max_inflight entries are in flight. When raft applies an entry, the
 * state machine leaves the per-mutation results in a scratch array and raft
 * calls our apply callback right away (raft 0.15 calls it synchronously after
 * fsm->apply); each proposal gets its slice. The state machine side of raft
 * (apply, snapshots, restore) is in rfsm.c.
 *
 * Barriers requested in one loop iteration share one raft_barrier. Entry
 * records are recycled, so steady state allocates one buffer per entry.
 * Leadership is polled every 20 ms and at each flush; losing it fails the
 * queued proposals with BE_NOTLEADER (raft fails those in flight itself). */
#include "store/store.h"

#include <malloc.h>
#include <raft.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "store/codec.h"
#include "store/fsm.h"
#include "store/raftheap.h"
#include "store/raftnode.h"
#include "store/snapjob.h"
#include "store/watch.h"
#include "store/store_int.h"


/* An entry buffer with more unused room than this is shrunk before raft
 * takes it. */
#define ENTRY_SLACK_MAX 1024

/* How long store_close() waits for the entries in flight to be applied. */
#define STORE_DRAIN_MS 2000

static void on_drained(uv_timer_t *t);

/* ---- helpers ------------------------------------------------------------ */

static int map_raft(struct store *s, int rv)
{
    if (s->closing)
        return BE_SHUTDOWN;
    switch (rv) {
    case RAFT_NOTLEADER:
    case RAFT_LEADERSHIPLOST:
        return BE_NOTLEADER;
    case RAFT_SHUTDOWN:
        return BE_SHUTDOWN;
    case RAFT_NOMEM:
        return BE_NOMEM;
    case RAFT_TOOBIG:
        return BE_TOOBIG;
    default:
        return BE_IO;
    }
}

static void entry_recycle(struct store *s, struct entry *e)
{
    if (e->buf)
        raft_free(e->buf);
    e->buf = NULL;
    e->len = e->cap = 0;
    e->nmuts = 0;
    e->nprops = 0;
    e->next = s->spare;
    s->spare = e;
}

static void entry_fail(struct store *s, struct entry *e, int rc)
{
    for (size_t i = 0; i < e->nprops; i++)
        e->props[i].cb(e->props[i].data, rc, NULL, 0);
    entry_recycle(s, e);
}

static void fail_pending(struct store *s, int rc)
{
    struct entry *e = s->pend_head;
    struct bwait *b = s->bar_head;
    s->pend_head = s->pend_tail = NULL;
    s->bar_head = s->bar_tail = NULL;
    while (e) {
        struct entry *next = e->next;
        entry_fail(s, e, rc);
        e = next;
    }
    while (b) {
        struct bwait *next = b->next;
        b->cb(b->data, rc);
        free(b);
        b = next;
    }
}

bool store_is_leader(store_t *s)
{
    return s->raft && !s->closing && raft_state(s->raft) == RAFT_LEADER;
}

bool store_has_leader(store_t *s)
{
    raft_id id = 0;
    const char *addr = NULL;
    if (!s->raft || s->closing)
        return false;
    raft_leader(s->raft, &id, &addr);
    return id != 0;
}

const char *store_leader_name(store_t *s)
{
    raft_id id = 0;
    const char *addr = NULL;
    if (!s->raft || s->closing)
        return NULL;
    raft_leader(s->raft, &id, &addr);
    if (id == 0)
        return NULL;
    if (id == s->raft->id && s->name)
        return s->name;
    /* other members are known by their raft address */
    snprintf(s->leader, sizeof s->leader, "%s", addr ? addr : "");
    return s->leader;
}

static void poll_leader(struct store *s)
{
    if (!s->raft || s->closing)
        return;
    bool now = raft_state(s->raft) == RAFT_LEADER;
    if (!s->ready && store_has_leader(s) &&
        raft_last_applied(s->raft) >= s->start_index)
        s->ready = true;
    if (!s->ready && s->loop && uv_now(s->loop) >= s->next_unready_log) {
        /* say why, every 5 s: a member that never gets ready is otherwise
         * silent at the default log level */
        if (s->next_unready_log)
            log_info("store", "not ready yet: applied log index %llu of %llu, leader %s",
                     (unsigned long long)raft_last_applied(s->raft),
                     (unsigned long long)s->start_index,
                     store_has_leader(s) ? "known" : "unknown");
        s->next_unready_log = uv_now(s->loop) + 5000;
    }
    if (now == s->was_leader)
        return;
    s->was_leader = now;
    log_info("store", "%s leadership", now ? "gained" : "lost");
    if (!now) {
        fail_pending(s, BE_NOTLEADER);
        store_changes_fail(s, BE_NOTLEADER);
    }
    if (s->cfg.on_leader_change)
        s->cfg.on_leader_change(s->cfg.data, now);
}

/* ---- group commit ------------------------------------------------------- */

static void flush(struct store *s);

static void disarm(struct store *s)
{
    if (!s->armed)
        return;
    s->armed = false;
    uv_check_stop(&s->check);
    uv_idle_stop(&s->idle);
}

static void on_tick(uv_check_t *h)
{
    flush(h->data);
}

static void on_idle(uv_idle_t *h)
{
    flush(h->data);
}

static void arm(struct store *s)
{
    if (s->armed || !s->loop || s->closing)
        return;
    bool work = s->bar_head ||
                (s->pend_head && s->inflight < s->cfg.max_inflight);
    if (!work)
        return;
    s->armed = true;
    uv_check_start(&s->check, on_tick);
    uv_idle_start(&s->idle, on_idle);
}

static void apply_cb(struct raft_apply *req, int status, void *result)
{
    struct entry *e = req->data;
    struct store *s = e->s;
    const struct apply_out *o = result;

    s->inflight--;
    if (s->closing && s->inflight == 0 && !s->raft_closing)
        uv_timer_start(&s->timer, on_drained, 0, 0); /* after this entry's callbacks */
    if (status != 0) {
        entry_fail(s, e, map_raft(s, status));
    } else if (!o || o->rc != 0 || o->n != e->nmuts) {
        log_error("store", "entry %llu: state machine rejected our own entry",
                  (unsigned long long)req->index);
        entry_fail(s, e, BE_INTERNAL);
    } else {
        size_t off = 0;
        for (size_t i = 0; i < e->nprops; i++) {
            struct prop *p = &e->props[i];
            p->cb(p->data, 0, o->res + off, p->n);
            off += p->n;
        }
        entry_recycle(s, e);
    }
    arm(s);
}

static void barrier_cb(struct raft_barrier *req, int status)
{
    struct bgroup *g = req->data;
    struct store *s = g->s;
    int rc = status ? map_raft(s, status) : 0;
    struct bwait *b = g->waiters;
    free(g);
    while (b) {
        struct bwait *next = b->next;
        b->cb(b->data, rc);
        free(b);
        b = next;
    }
}

static void flush_barriers(struct store *s)
{
    struct bwait *w = s->bar_head;
    if (!w)
        return;
    s->bar_head = s->bar_tail = NULL;
    struct bgroup *g = calloc(1, sizeof *g);
    int rc = BE_NOMEM;
    if (g) {
        g->s = s;
        g->waiters = w;
        g->req.data = g;
        int rv = raft_barrier(s->raft, &g->req, barrier_cb);
        if (rv == 0)
            return;
        rc = map_raft(s, rv);
        free(g);
    }
    while (w) {
        struct bwait *next = w->next;
        w->cb(w->data, rc);
        free(w);
        w = next;
    }
}

static void flush(struct store *s)
{
    poll_leader(s);
    disarm(s);
    if (s->closing)
        return;
    /* send only what is queued now: a failing callback may queue more */
    size_t todo = 0;
    for (struct entry *e = s->pend_head; e; e = e->next)
        todo++;
    while (todo-- > 0 && s->pend_head && s->inflight < s->cfg.max_inflight) {
        struct entry *e = s->pend_head;
        s->pend_head = e->next;
        if (!s->pend_head)
            s->pend_tail = NULL;
        e->next = NULL;
        codec_write_header(e->buf, e->nmuts);
        size_t padded = codec_padded(e->len);
        memset(e->buf + e->len, 0, padded - e->len);
        /* raft keeps the buffer until a snapshot compacts the entry away:
         * give back what the batch did not fill (a lone create uses 1.4 KiB
         * of the 16 KiB) */
        if (e->cap - padded >= ENTRY_SLACK_MAX) {
            char *shrunk = raft_realloc(e->buf, padded);
            if (shrunk) {
                e->buf = shrunk;
                e->cap = padded;
            }
        }
        struct raft_buffer b = {.base = e->buf, .len = padded};
        e->req.data = e;
        s->inflight++;
        int rv = raft_apply(s->raft, &e->req, &b, 1, apply_cb);
        if (rv != 0) {
            s->inflight--;
            entry_fail(s, e, map_raft(s, rv));
            continue;
        }
        e->buf = NULL; /* raft's now */
    }
    flush_barriers(s);
    arm(s);
}

static struct entry *entry_get(struct store *s, size_t need)
{
    struct entry *e = s->spare;
    if (e)
        s->spare = e->next;
    else if (!(e = calloc(1, sizeof *e)))
        return NULL;
    e->s = s;
    e->next = NULL;
    size_t cap = need < 16384 ? 16384 : codec_padded(need);
    e->buf = raft_malloc(cap);
    if (!e->buf) {
        e->next = s->spare;
        s->spare = e;
        return NULL;
    }
    e->cap = cap;
    e->len = CODEC_HDR_SIZE;
    return e;
}

int store_propose(store_t *s, const struct store_mut *muts, size_t n,
                  store_commit_cb cb, void *data)
{
    size_t total = 0;

    if (s->closing)
        return BE_SHUTDOWN;
    if (!muts || n == 0 || !cb)
        return BE_INVAL;
    for (size_t i = 0; i < n; i++) {
        size_t sz = codec_mut_size(&muts[i]);
        if (sz == 0)
            return BE_INVAL;
        total += sz;
        if (total > MAX_ENTRY - CODEC_HDR_SIZE)
            return BE_TOOBIG;
    }
    if (!store_is_leader(s))
        return BE_NOTLEADER;

    struct entry *e = s->pend_tail;
    if (!e || e->len + total > MAX_ENTRY ||
        (uint64_t)e->nmuts + n > UINT32_MAX) {
        if (!(e = entry_get(s, CODEC_HDR_SIZE + total)))
            return BE_NOMEM;
        if (s->pend_tail)
            s->pend_tail->next = e;
        else
            s->pend_head = e;
        s->pend_tail = e;
    }
    if (codec_padded(e->len + total) > e->cap) {
        size_t cap = e->cap * 2;
        while (cap < codec_padded(e->len + total))
            cap *= 2;
        char *b = raft_realloc(e->buf, cap);
        if (!b)
            return BE_NOMEM;
        e->buf = b;
        e->cap = cap;
    }
    if (e->nprops == e->props_cap) {
        size_t pc = e->props_cap ? e->props_cap * 2 : 64;
        struct prop *p = realloc(e->props, pc * sizeof *p);
        if (!p)
            return BE_NOMEM;
        e->props = p;
        e->props_cap = pc;
    }
    for (size_t i = 0; i < n; i++)
        e->len += codec_write_mut(e->buf + e->len, &muts[i]);
    e->nmuts += (uint32_t)n;
    e->props[e->nprops++] = (struct prop){.cb = cb, .data = data, .n = (uint32_t)n};
    arm(s);
    return 0;
}

int store_barrier(store_t *s, void (*cb)(void *data, int rc), void *data)
{
    if (s->closing)
        return BE_SHUTDOWN;
    if (!cb)
        return BE_INVAL;
    if (!store_is_leader(s))
        return BE_NOTLEADER;
    struct bwait *b = calloc(1, sizeof *b);
    if (!b)
        return BE_NOMEM;
    b->cb = cb;
    b->data = data;
    if (s->bar_tail)
        s->bar_tail->next = b;
    else
        s->bar_head = b;
    s->bar_tail = b;
    arm(s);
    return 0;
}

/* ---- open / close --------------------------------------------------------- */

/* Hands the heap's free pages back to the OS after a snapshot, once no
 * entry has been applied for TRIM_IDLE_MS: a busy store reuses them. */
#define TRIM_IDLE_MS 1000

/* Blocks raft freed after a snapshot, returned per poll tick: ~2-4 ms of
 * page faults at most (raftheap.c says why they are held back). */
#define RAFTHEAP_DRAIN_PER_TICK 4096

static void on_timer(uv_timer_t *t)
{
    struct store *s = t->data;
    poll_leader(s);
    raftheap_drain(RAFTHEAP_DRAIN_PER_TICK);
    if (s->trim_due && uv_now(s->loop) - s->last_apply_ms >= TRIM_IDLE_MS) {
        s->trim_due = false;
        uint64_t t0 = uv_hrtime();
        malloc_trim(0);
        log_info("store", "heap trimmed after a snapshot in %.1f ms",
                 (double)(uv_hrtime() - t0) / 1e6);
    }
}

static int store_new(const struct store_config *cfg, store_t **out,
                     char *errbuf, size_t errlen)
{
    struct store *s = calloc(1, sizeof *s);
    int rc;
    if (!s)
        return BE_NOMEM;
    if (cfg)
        s->cfg = *cfg;
    if (!s->cfg.watch_window)
        s->cfg.watch_window = 20000;
    if (!s->cfg.max_inflight)
        s->cfg.max_inflight = 8;
    s->name = s->cfg.name ? strdup(s->cfg.name) : NULL;
    s->data_dir = s->cfg.data_dir ? strdup(s->cfg.data_dir) : NULL;
    s->address = s->cfg.raft_address ? strdup(s->cfg.raft_address) : NULL;
    s->cfg.name = s->name;
    s->cfg.data_dir = s->data_dir;
    s->cfg.raft_address = s->address;
    if ((cfg && cfg->name && !s->name) ||
        (cfg && cfg->data_dir && !s->data_dir) ||
        (cfg && cfg->raft_address && !s->address)) {
        rc = BE_NOMEM;
        goto err;
    }
    if ((rc = watch_hub_new(&s->hub, s->cfg.watch_window, 0)) != 0)
        goto err;
    if ((rc = fsm_open(&s->fsm, s->hub, errbuf, errlen)) != 0)
        goto err;
    store_rfsm_init(s);
    *out = s;
    return 0;
err:
    watch_hub_free(s->hub);
    free(s->name);
    free(s->data_dir);
    free(s->address);
    free(s);
    return rc;
}

static void store_free(struct store *s)
{
    snapjob_free(s->snap); /* raft closed mid-snapshot: no finalize came */
    fsm_close(s->fsm);
    watch_hub_free(s->hub);
    while (s->spare) {
        struct entry *e = s->spare;
        s->spare = e->next;
        free(e->props);
        free(e);
    }
    free(s->name);
    free(s->data_dir);
    free(s->address);
    free(s);
}

int store_open(uv_loop_t *loop, const struct store_config *cfg, store_t **out,
               char *errbuf, size_t errlen)
{
    struct store *s;
    int rc;

    if (errlen)
        errbuf[0] = 0;
    if (!loop || !cfg || !out)
        return BE_INVAL;
    if ((rc = store_new(cfg, &s, errbuf, errlen)) != 0)
        return rc;
    s->loop = loop;
    if (cfg->restore) {
        /* the data dir is empty (berthd checks): raft bootstraps, the image
         * becomes the state machine, and the first snapshot makes it durable */
        if ((rc = fsm_restore(s->fsm, cfg->restore, cfg->restore_len)) != 0) {
            snprintf(errbuf, errlen, "the snapshot to restore is not a Berth state machine image");
            store_free(s);
            return rc;
        }
        s->snapshot_asap = true;
    }
    if ((rc = raftnode_open(loop, &s->cfg, &s->rfsm, &s->rn, errbuf, errlen))) {
        store_free(s);
        return rc;
    }
    s->raft = &s->rn->raft;
    s->start_index = raft_last_index(s->raft);
    uv_timer_init(loop, &s->timer);
    uv_check_init(loop, &s->check);
    uv_idle_init(loop, &s->idle);
    s->timer.data = s->check.data = s->idle.data = s;
    s->open_handles = 3;
    uv_timer_start(&s->timer, on_timer, POLL_MS, POLL_MS);
    log_info("store", "opened %s (raft %s, revision %llu, log index %llu)",
             s->data_dir, s->address, (unsigned long long)fsm_revision(s->fsm),
             (unsigned long long)s->start_index);
    *out = s;
    return 0;
}

int store_open_fixture_cfg(const struct store_config *cfg,
                           struct raft_fsm **fsm_out, store_t **out)
{
    struct store *s;
    char err[256];
    int rc = store_new(cfg, &s, err, sizeof err);
    if (rc)
        return rc;
    /* raft's fixture I/O has no async_work: snapshots complete inside
     * rfsm_snapshot (the same fork, waited for at once) */
    s->rfsm.version = 2;
    s->rfsm.snapshot_async = NULL;
    *fsm_out = &s->rfsm;
    *out = s;
    return 0;
}

int store_open_fixture(struct raft_fsm **fsm_out, store_t **out)
{
    return store_open_fixture_cfg(NULL, fsm_out, out);
}

void store_fixture_attach(store_t *s, struct raft *raft)
{
    s->raft = raft;
    s->start_index = raft_last_index(raft);
}

void store_fixture_flush(store_t *s)
{
    flush(s);
}

static void handle_closed(uv_handle_t *h)
{
    struct store *s = h->data;
    if (--s->open_handles > 0)
        return;
    void (*cb)(void *) = s->close_cb;
    void *data = s->close_data;
    store_free(s);
    if (cb)
        cb(data);
}

static void raft_closed(void *data)
{
    struct store *s = data;
    s->raft = NULL;
    s->rn = NULL;
    uv_close((uv_handle_t *)&s->timer, handle_closed);
    uv_close((uv_handle_t *)&s->check, handle_closed);
    uv_close((uv_handle_t *)&s->idle, handle_closed);
}

static void close_raft(struct store *s)
{
    if (s->raft_closing)
        return;
    s->raft_closing = true;
    uv_timer_stop(&s->timer);
    raftnode_close(s->rn, raft_closed, s);
}

/* The drain ended: every entry in flight was applied, or the deadline
 * passed (a follower cut off from its leader, a stuck disk). */
static void on_drained(uv_timer_t *t)
{
    close_raft(t->data);
}

void store_close(store_t *s, void (*cb)(void *data), void *data)
{
    if (s->closing)
        return;
    s->closing = true;
    s->close_cb = cb;
    s->close_data = data;
    fail_pending(s, BE_SHUTDOWN);
    store_changes_fail(s, BE_SHUTDOWN);
    fsm_set_hub(s->fsm, NULL);
    watch_hub_free(s->hub);
    s->hub = NULL;
    if (!s->loop) {
        /* fixture: the fixture owns raft; close it first */
        store_free(s);
        if (cb)
            cb(data);
        return;
    }
    disarm(s);
    uv_timer_stop(&s->timer);
    /* Drain before closing raft: entries in flight are written and applied
     * (their proposers get their results, not a cancellation), and raft
     * 0.15's libuv I/O is not asked to cancel appends it has under way,
     * which crashed it (test_api_stop_under_load). */
    if (s->inflight == 0)
        close_raft(s);
    else
        uv_timer_start(&s->timer, on_drained, STORE_DRAIN_MS, 0);
}

/* ---- reads -------------------------------------------------------------- */

int store_get(store_t *s, const char *resource, const char *ns,
              const char *name, char **json, size_t *len, uint64_t *rev_out)
{
    return fsm_get(s->fsm, resource, ns, name, json, len, rev_out);
}

int store_exists(store_t *s, const char *resource, const char *ns,
                 const char *name)
{
    return fsm_exists(s->fsm, resource, ns, name);
}

uint64_t store_ns_generation(store_t *s)
{
    return fsm_ns_generation(s->fsm);
}

int store_list(store_t *s, const char *resource,
               const struct store_list_opts *opts, store_list_cb cb,
               void *data, uint64_t *list_rev)
{
    if (list_rev)
        *list_rev = fsm_revision(s->fsm);
    return fsm_list(s->fsm, resource, opts, cb, data);
}

uint64_t store_revision(store_t *s)
{
    return fsm_revision(s->fsm);
}

uint64_t store_applied_index(store_t *s)
{
    return s->raft ? raft_last_applied(s->raft) : 0;
}

bool store_ready(store_t *s)
{
    poll_leader(s);
    return s->ready && store_has_leader(s);
}

uint64_t store_object_count(store_t *s)
{
    return fsm_count(s->fsm);
}

/* ---- watch ---------------------------------------------------------------- */

int store_watch_start(store_t *s, const struct store_watch_opts *opts,
                      store_watch_cb cb, void *data, store_watch_t **out)
{
    if (s->closing || !s->hub)
        return BE_SHUTDOWN;
    if (!out)
        return BE_INVAL;
    return watch_start(s->hub, opts, cb, data, out);
}

void store_watch_stop(store_watch_t *w)
{
    watch_stop(w);
}

size_t store_watch_count(store_t *s)
{
    return s->hub ? watch_count(s->hub) : 0;
}

/* ---- snapshots -------------------------------------------------------------- */

/* store_image: the copier is waited for on the thread pool; nothing here
 * touches the store after the fork, so a store closed meanwhile is fine. */
struct image_req {
    uv_work_t work;
    struct snapjob *job;
    int rc;
    store_image_cb cb;
    void *data;
};

static void image_wait(uv_work_t *w)
{
    struct image_req *r = w->data;
    r->rc = snapjob_wait(r->job);
}

static void image_done(uv_work_t *w, int status)
{
    struct image_req *r = w->data;
    (void)status; /* queued work is never cancelled */
    r->cb(r->data, r->rc, r->rc ? NULL : snapjob_data(r->job), snapjob_len(r->job));
    snapjob_free(r->job);
    free(r);
}

int store_image(store_t *s, store_image_cb cb, void *data)
{
    const void *img;
    size_t n;
    if (!s->loop || s->closing)
        return BE_SHUTDOWN;
    struct image_req *r = calloc(1, sizeof *r);
    if (!r)
        return BE_NOMEM;
    int rc = fsm_image(s->fsm, &img, &n);
    if (rc == 0)
        rc = snapjob_start(img, n, &r->job);
    if (rc == 0) {
        r->cb = cb;
        r->data = data;
        r->work.data = r;
        if (uv_queue_work(s->loop, &r->work, image_wait, image_done) == 0)
            return 0;
        rc = BE_INTERNAL;
        snapjob_free(r->job);
    }
    free(r);
    return rc;
}
