/* manager.c: the controller manager: leadership, informers and the work loop.
 *
 * The table below lists every controller; adding one is a file with its
 * ctrl_def and a line here. The informers are the union of the resources
 * the controllers read.
 *
 * Gaining leadership: each informer lists its resource into the cache (the
 * list is synchronous, so all lists see one revision) and starts a store
 * watch from the list's revision (BE_GONE: list again). The initial list
 * goes through the controllers' event handlers like ADDED events, so every
 * object gets reconciled once. Losing leadership (or closing): watches
 * stop, caches, queues, expectations and unsent writes are dropped at once,
 * and the epoch is bumped so commits of the old term are ignored.
 *
 * Work loop: a uv_idle handle runs while some key is ready: each iteration
 * syncs at most syncs_per_tick keys, round-robin over the controllers, then
 * proposes the writes they made as one batch (chunks of 128 mutations). A
 * 100 ms timer moves delayed keys (back-off, enqueue_after) to ready. A
 * commit reports each mutation's result to its writer (client.c). A key
 * whose writes are still in flight is not synced: it runs again once they
 * are answered (queue.c), when the watch has already put them in the
 * caches. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "controllers/ctrl_int.h"

static const struct ctrl_def *const all_defs[] = {
    &ctrl_gc_def,
    &ctrl_replicaset_def,
    &ctrl_deployment_def,
    &ctrl_hpa_def,
    &ctrl_job_def,
    &ctrl_cronjob_def,
    &ctrl_daemonset_def,
    &ctrl_statefulset_def,
    &ctrl_endpoints_def,
    &ctrl_namespace_def,
    NULL,
};

#define CHUNK 128
#define TICK_MS 100

struct ctrl_batch {
    struct ctrl_manager *m;    /* NULL once the manager closed */
    uint64_t epoch;
    struct ctrl_write *writes;
    size_t n;
    struct ctrl_batch *prev, *next;
};

/* ---- time and randomness ----------------------------------------------------- */

int64_t ctrl_now_ms(struct ctrl *c)
{
    struct ctrl_config *cfg = &c->mgr->cfg;
    if (cfg->now_ms) return cfg->now_ms(cfg->data);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

time_t ctrl_now(struct ctrl *c)
{
    return (time_t)(ctrl_now_ms(c) / 1000);
}

void ctrl_random(struct ctrl *c, void *buf, size_t n)
{
    struct ctrl_config *cfg = &c->mgr->cfg;
    if (cfg->random) {
        cfg->random(cfg->data, buf, n);
        return;
    }
    if (uv_random(NULL, NULL, buf, n, 0, NULL) == 0) return;
    for (size_t i = 0; i < n; i++) ((unsigned char *)buf)[i] = (unsigned char)rand(); /* defensive */
}

struct ctrl *ctrl_find(struct ctrl_manager *m, const char *name)
{
    for (size_t i = 0; i < m->nctrls; i++)
        if (!strcmp(m->ctrls[i].def->name, name)) return &m->ctrls[i];
    return NULL;
}

/* ---- construction ------------------------------------------------------------- */

static int add_informer(struct ctrl_manager *m, const char *resource)
{
    if (ctrl_informer_find(m, resource)) return 0;
    struct ctrl_informer *infs = realloc(m->infs, (m->ninfs + 1) * sizeof *infs);
    if (!infs) return BE_NOMEM;
    m->infs = infs;
    struct ctrl_informer *inf = &m->infs[m->ninfs];
    memset(inf, 0, sizeof *inf);
    inf->mgr = m;
    if (!(inf->resource = strdup(resource))) return BE_NOMEM;
    m->ninfs++;
    return 0;
}

static void manager_free(struct ctrl_manager *m)
{
    for (size_t i = 0; i < m->ninfs; i++) free(m->infs[i].resource);
    free(m->infs);
    free(m->ctrls);
    free(m->writes);
    dict_clear(&m->by_uid, NULL);
    dict_clear(&m->by_owner, NULL);
    ctrl_events_clear(m);
    free(m);
}

int ctrl_manager_new(uv_loop_t *loop, store_t *store, const struct ctrl_config *cfg,
                     ctrl_manager_t **out)
{
    struct ctrl_manager *m = calloc(1, sizeof *m);
    if (!m) return BE_NOMEM;
    m->loop = loop;
    m->store = store;
    if (cfg) m->cfg = *cfg;
    if (!m->cfg.syncs_per_tick) m->cfg.syncs_per_tick = 64;
    if (!m->cfg.expectation_timeout_ms) m->cfg.expectation_timeout_ms = 5 * 60 * 1000;
    if (!m->cfg.backoff_base_ms) m->cfg.backoff_base_ms = 50;
    if (!m->cfg.backoff_max_ms) m->cfg.backoff_max_ms = 60 * 1000;
    size_t n = 0;
    while (all_defs[n]) n++;
    if (!(m->ctrls = calloc(n, sizeof *m->ctrls))) goto err;
    m->nctrls = n;
    for (size_t i = 0; i < n; i++) {
        m->ctrls[i].def = all_defs[i];
        m->ctrls[i].mgr = m;
        for (const char *const *r = all_defs[i]->resources; *r; r++)
            if (add_informer(m, *r)) goto err;
    }
    if (loop) {
        uv_idle_init(loop, &m->work);
        uv_timer_init(loop, &m->tick);
        m->work.data = m->tick.data = m;
        m->handles_open = true;
    }
    *out = m;
    return 0;
err:
    manager_free(m);
    return BE_NOMEM;
}

/* ---- the work loop --------------------------------------------------------------- */

static void on_work(uv_idle_t *h);

static void kick(struct ctrl_manager *m)
{
    if (m->loop && m->leading && !m->closing) uv_idle_start(&m->work, on_work);
}

static void sync_one(struct ctrl *c, char *key)
{
    struct ctrl_manager *m = c->mgr;
    size_t before = m->nwrites;
    if (ctrl_busy(c, key)) { /* runs again when its writes are answered */
        free(key);
        return;
    }
    c->cur_key = key;
    int rc = c->def->sync(c, key);
    c->cur_key = NULL;
    if (rc) {
        log_warn("ctrl", "%s: sync %s: %s; retrying", c->def->name, key, be_strerror(rc));
        ctrl_requeue_backoff(c, key);
    } else if (m->nwrites == before) {
        ctrl_forget(c, key);
    }
    free(key);
}

size_t ctrl_run_ready(struct ctrl_manager *m, size_t budget)
{
    size_t done = 0;
    bool progress = true;
    while (done < budget && progress && m->leading) {
        progress = false;
        for (size_t i = 0; i < m->nctrls && done < budget && m->leading; i++) {
            char *key = ctrl_queue_pop(&m->ctrls[i]);
            if (!key) continue;
            sync_one(&m->ctrls[i], key);
            done++;
            progress = true;
        }
    }
    return done;
}

static void batch_results(struct ctrl_batch *b, int rc, const struct store_result *res)
{
    /* successes first: a key with a failed write keeps its back-off count */
    for (size_t i = 0; i < b->n; i++)
        if (!rc && !res[i].rc && b->writes[i].key) ctrl_forget(b->writes[i].c, b->writes[i].key);
    for (size_t i = 0; i < b->n; i++) ctrl_write_result(&b->writes[i], rc ? rc : res[i].rc);
}

static void batch_free(struct ctrl_batch *b)
{
    for (size_t i = 0; i < b->n; i++) ctrl_write_free(&b->writes[i]);
    free(b->writes);
    free(b);
}

static void on_commit(void *data, int rc, const struct store_result *res, size_t n)
{
    struct ctrl_batch *b = data;
    struct ctrl_manager *m = b->m;
    if (m) {
        if (b->prev) b->prev->next = b->next;
        else m->inflight = b->next;
        if (b->next) b->next->prev = b->prev;
    }
    if (m && m->leading && b->epoch == m->epoch && (rc || n == b->n)) {
        if (rc) log_warn("ctrl", "a batch of %zu writes failed: %s", b->n, be_strerror(rc));
        batch_results(b, rc, res);
        kick(m);
    }
    batch_free(b);
}

static void propose(struct ctrl_manager *m, struct ctrl_write *writes, size_t n)
{
    struct ctrl_batch *b = calloc(1, sizeof *b);
    struct store_mut *muts = calloc(n, sizeof *muts);
    if (!b || !muts) {
        free(b);
        free(muts);
        for (size_t i = 0; i < n; i++) {
            ctrl_write_result(&writes[i], BE_NOMEM);
            ctrl_write_free(&writes[i]);
        }
        free(writes);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct ctrl_write *w = &writes[i];
        muts[i] = (struct store_mut){.op = w->op, .resource = w->resource, .ns = w->ns,
                                     .name = w->name, .expect_rev = w->expect_rev,
                                     .json = w->json, .json_len = w->json_len, .node = w->node,
                                     .owner = w->owner};
    }
    *b = (struct ctrl_batch){.m = m, .epoch = m->epoch, .writes = writes, .n = n};
    int rc = store_propose(m->store, muts, n, on_commit, b);
    free(muts);
    if (rc) {
        log_warn("ctrl", "cannot propose %zu writes: %s", n, be_strerror(rc));
        batch_results(b, rc, NULL);
        batch_free(b);
        return;
    }
    b->next = m->inflight;
    if (m->inflight) m->inflight->prev = b;
    m->inflight = b;
}

static void flush(struct ctrl_manager *m)
{
    if (!m->store || !m->nwrites) return;
    struct ctrl_write *all = m->writes;
    size_t n = m->nwrites;
    m->writes = NULL;
    m->nwrites = m->capwrites = 0;
    for (size_t off = 0; off < n; off += CHUNK) {
        size_t k = n - off < CHUNK ? n - off : CHUNK;
        struct ctrl_write *part = malloc(k * sizeof *part);
        if (!part) {
            for (size_t i = off; i < off + k; i++) {
                ctrl_write_result(&all[i], BE_NOMEM);
                ctrl_write_free(&all[i]);
            }
            continue;
        }
        memcpy(part, all + off, k * sizeof *part);
        propose(m, part, k);
    }
    free(all);
}

static bool any_ready(struct ctrl_manager *m)
{
    for (size_t i = 0; i < m->nctrls; i++)
        if (m->ctrls[i].ready_head) return true;
    return false;
}

static void on_work(uv_idle_t *h)
{
    struct ctrl_manager *m = h->data;
    if (m->leading) ctrl_run_ready(m, m->cfg.syncs_per_tick);
    if (m->leading) flush(m);
    if (!m->leading || !any_ready(m)) uv_idle_stop(h);
}

static void on_tick(uv_timer_t *t)
{
    struct ctrl_manager *m = t->data;
    int64_t now = m->nctrls ? ctrl_now_ms(&m->ctrls[0]) : 0;
    bool ready = false;
    for (size_t i = 0; i < m->nctrls; i++) ready |= ctrl_queue_promote(&m->ctrls[i], now);
    if (ready) kick(m);
}

/* ---- informers ------------------------------------------------------------------- */

static void on_watch(void *data, const struct store_event *ev)
{
    struct ctrl_informer *inf = data;
    struct ctrl_manager *m = inf->mgr;
    if (ev->type == STORE_EV_CLOSED) {
        inf->watch = NULL;
        return;
    }
    if (!m->leading) return;
    ctrl_cache_apply(inf, ev->type, ev->ns, ev->name, ev->rev, ev->json, ev->json_len);
    kick(m);
}

static int on_list_item(void *data, const char *ns, const char *name, uint64_t rev,
                        const char *json, size_t len)
{
    ctrl_cache_apply(data, STORE_EV_ADDED, ns, name, rev, json, len);
    return 0;
}

static int informer_start(struct ctrl_informer *inf)
{
    struct ctrl_manager *m = inf->mgr;
    for (int attempt = 0; attempt < 3; attempt++) {
        uint64_t rev = 0;
        ctrl_cache_clear(inf);
        int rc = store_list(m->store, inf->resource, NULL, on_list_item, inf, &rev);
        if (rc) return rc;
        struct store_watch_opts wo = {.resource = inf->resource, .from_rev = rev};
        rc = store_watch_start(m->store, &wo, on_watch, inf, &inf->watch);
        if (rc != BE_GONE) return rc;
        log_info("ctrl", "watch of %s from %llu: gone; listing again", inf->resource,
                 (unsigned long long)rev);
    }
    return BE_GONE;
}

/* ---- leadership ------------------------------------------------------------------- */

static void stop_all(struct ctrl_manager *m)
{
    if (!m->leading) return;
    m->leading = false;
    m->epoch++;
    for (size_t i = 0; i < m->ninfs; i++) {
        if (m->infs[i].watch) store_watch_stop(m->infs[i].watch);
        m->infs[i].watch = NULL;
        ctrl_cache_clear(&m->infs[i]);
    }
    for (size_t i = 0; i < m->nctrls; i++) {
        struct ctrl *c = &m->ctrls[i];
        ctrl_queue_clear(c);
        if (c->def->fini) c->def->fini(c);
        c->priv = NULL;
    }
    for (size_t i = 0; i < m->nwrites; i++) ctrl_write_free(&m->writes[i]);
    m->nwrites = 0;
    ctrl_events_clear(m);
    if (m->loop) {
        uv_idle_stop(&m->work);
        uv_timer_stop(&m->tick);
    }
}

void ctrl_manager_leader_changed(ctrl_manager_t *m, bool is_leader)
{
    if (m->closing || is_leader == m->leading) return;
    if (!is_leader) {
        log_info("ctrl", "lost leadership: controllers stopped");
        stop_all(m);
        return;
    }
    m->leading = true;
    for (size_t i = 0; i < m->nctrls; i++) {
        struct ctrl *c = &m->ctrls[i];
        if (c->def->init && c->def->init(c)) {
            log_error("ctrl", "%s: cannot start: out of memory", c->def->name);
            stop_all(m);
            return;
        }
    }
    if (!m->store) return; /* test mode */
    for (size_t i = 0; i < m->ninfs && m->leading; i++) {
        int rc = informer_start(&m->infs[i]);
        if (rc) {
            log_error("ctrl", "cannot watch %s: %s; controllers stopped", m->infs[i].resource,
                      be_strerror(rc));
            stop_all(m);
            return;
        }
    }
    log_info("ctrl", "leading: %zu controllers started over %zu resources", m->nctrls, m->ninfs);
    uv_timer_start(&m->tick, on_tick, TICK_MS, TICK_MS);
    kick(m);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct ctrl_manager *m = h->data;
    if (--m->closing_handles) return;
    void (*cb)(void *) = m->close_cb;
    void *data = m->close_data;
    manager_free(m);
    if (cb) cb(data);
}

void ctrl_manager_close(ctrl_manager_t *m, void (*cb)(void *data), void *data)
{
    stop_all(m);
    m->closing = true;
    for (struct ctrl_batch *b = m->inflight; b; b = b->next) b->m = NULL;
    m->inflight = NULL;
    m->close_cb = cb;
    m->close_data = data;
    if (!m->handles_open) {
        manager_free(m);
        if (cb) cb(data);
        return;
    }
    m->closing_handles = 2;
    uv_close((uv_handle_t *)&m->work, on_handle_closed);
    uv_close((uv_handle_t *)&m->tick, on_handle_closed);
}

/* ---- test hooks ----------------------------------------------------------------------- */

void ctrl_test_event(struct ctrl_manager *m, const char *resource, enum store_ev_type type,
                     const char *json)
{
    struct ctrl_informer *inf = ctrl_informer_find(m, resource);
    json_t *j = json_loads(json, 0, NULL);
    const char *ns = json_path_str(j, "metadata.namespace");
    const char *name = json_path_str(j, "metadata.name");
    if (inf && name) ctrl_cache_apply(inf, type, ns ? ns : "", name, ++m->test_rev, json, strlen(json));
    json_decref(j);
}

struct ctrl_write *ctrl_test_writes(struct ctrl_manager *m, size_t *n)
{
    *n = m->nwrites;
    return m->writes;
}

/* What the store's state machine would answer for one mutation. */
static int fake_apply(struct ctrl_manager *m, struct ctrl_write *w)
{
    struct ctrl_informer *inf = ctrl_informer_find(m, w->resource);
    if (!inf) return 0; /* not cached (events): accepted */
    char key[512];
    ctrl_key(key, sizeof key, w->ns, w->name);
    struct ctrl_obj *cur = dict_get(&inf->objs, key);
    if (w->op == STORE_CREATE) {
        if (cur) return BE_EXISTS;
        ctrl_cache_apply(inf, STORE_EV_ADDED, w->ns, w->name, ++m->test_rev, w->json, w->json_len);
        return 0;
    }
    if (!cur) return BE_NOTFOUND;
    if (w->expect_rev && w->expect_rev != cur->rev) return BE_CONFLICT;
    if (w->op == STORE_UPDATE) {
        ctrl_cache_apply(inf, STORE_EV_MODIFIED, w->ns, w->name, ++m->test_rev, w->json,
                         w->json_len);
        return 0;
    }
    char *text = json_dumps(cur->obj, JSON_COMPACT);
    if (text) ctrl_cache_apply(inf, STORE_EV_DELETED, w->ns, w->name, ++m->test_rev, text, strlen(text));
    free(text);
    return 0;
}

void ctrl_test_commit(struct ctrl_manager *m)
{
    struct ctrl_batch b = {.m = m, .writes = m->writes, .n = m->nwrites};
    m->writes = NULL;
    m->nwrites = m->capwrites = 0;
    struct store_result *res = calloc(b.n ? b.n : 1, sizeof *res);
    for (size_t i = 0; i < b.n; i++) res[i].rc = fake_apply(m, &b.writes[i]);
    batch_results(&b, 0, res);
    free(res);
    for (size_t i = 0; i < b.n; i++) ctrl_write_free(&b.writes[i]);
    free(b.writes);
}

void ctrl_test_fail(struct ctrl_manager *m, int rc)
{
    struct ctrl_batch b = {.m = m, .writes = m->writes, .n = m->nwrites};
    m->writes = NULL;
    m->nwrites = m->capwrites = 0;
    batch_results(&b, rc, NULL);
    for (size_t i = 0; i < b.n; i++) ctrl_write_free(&b.writes[i]);
    free(b.writes);
}
