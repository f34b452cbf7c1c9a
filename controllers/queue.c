/* queue.c: each controller's work queue and its expectations.
 *
 * Queue: a map key -> item. An item is "ready" (in the FIFO of keys to
 * sync), "delayed" (due at a time; moved to ready by the manager's tick) or
 * idle (kept only to remember its failure count). A key whose last sync's
 * writes are still in flight is not synced again until they are committed
 * (the store applies a write, and so updates the caches through the watch,
 * before it reports the commit): the sync is deferred and runs when the
 * last write of the key is answered, so a sync never acts on a cache that
 * lacks its own previous writes. A key is in the FIFO at
 * most once, however often it is enqueued (de-duplication: one sync sees
 * all the changes that happened meanwhile, as the reconcile is
 * level-triggered). Back-off after a failure: base * 2^(failures-1), capped.
 *
 * Expectations: per key, the creates and deletes the controller made and
 * has not yet seen through the watch, with the time they were set. While
 * any are pending the controller must not act on counts again (its cache
 * does not show its own writes yet); they expire after a timeout in case an
 * event was missed. The slow-start batch size for creates lives here too. */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "controllers/ctrl_int.h"

struct ctrl_qitem {
    struct ctrl_qitem *next;    /* in the ready FIFO */
    bool ready, delayed;
    bool dirty;                 /* enqueued while its writes were in flight */
    int inflight;               /* writes of its syncs not committed yet */
    int failures;
    int64_t due_ms;
    char key[];
};

struct ctrl_exp {
    int64_t adds, dels;
    int64_t set_ms;
    int batch;                  /* next slow-start batch */
};

static struct ctrl_qitem *item(struct ctrl *c, const char *key)
{
    struct ctrl_qitem *it = dict_get(&c->items, key);
    if (it) return it;
    size_t len = strlen(key);
    if (!(it = calloc(1, sizeof *it + len + 1))) return NULL;
    memcpy(it->key, key, len + 1);
    if (dict_put(&c->items, key, it)) {
        free(it);
        return NULL;
    }
    return it;
}

static void make_ready(struct ctrl *c, struct ctrl_qitem *it)
{
    it->delayed = false;
    if (it->ready) return;
    it->ready = true;
    it->next = NULL;
    if (c->ready_tail) c->ready_tail->next = it;
    else c->ready_head = it;
    c->ready_tail = it;
}

void ctrl_enqueue(struct ctrl *c, const char *key)
{
    if (!c->mgr->leading) return;
    struct ctrl_qitem *it = item(c, key);
    if (it) make_ready(c, it);
}

void ctrl_enqueue_after(struct ctrl *c, const char *key, int64_t ms)
{
    if (!c->mgr->leading) return;
    if (ms <= 0) {
        ctrl_enqueue(c, key);
        return;
    }
    struct ctrl_qitem *it = item(c, key);
    if (!it || it->ready) return;
    int64_t due = ctrl_now_ms(c) + ms;
    if (!it->delayed || due < it->due_ms) it->due_ms = due;
    it->delayed = true;
}

void ctrl_requeue_backoff(struct ctrl *c, const char *key)
{
    struct ctrl_qitem *it = c->mgr->leading ? item(c, key) : NULL;
    if (!it) return;
    struct ctrl_config *cfg = &c->mgr->cfg;
    int64_t delay = cfg->backoff_base_ms;
    for (int i = 0; i < it->failures && delay < cfg->backoff_max_ms; i++) delay *= 2;
    if (delay > cfg->backoff_max_ms) delay = cfg->backoff_max_ms;
    it->failures++;
    if (it->ready) return;
    int64_t due = ctrl_now_ms(c) + delay;
    if (!it->delayed || due < it->due_ms) it->due_ms = due;
    it->delayed = true;
}

static bool idle(const struct ctrl_qitem *it)
{
    return !it->ready && !it->delayed && !it->failures && !it->inflight && !it->dirty;
}

void ctrl_forget(struct ctrl *c, const char *key)
{
    struct ctrl_qitem *it = dict_get(&c->items, key);
    if (!it) return;
    it->failures = 0;
    if (idle(it)) free(dict_del(&c->items, key));
}

bool ctrl_busy(struct ctrl *c, const char *key)
{
    struct ctrl_qitem *it = dict_get(&c->items, key);
    if (!it || !it->inflight) return false;
    it->dirty = true;
    return true;
}

void ctrl_inflight(struct ctrl *c, const char *key, int delta)
{
    struct ctrl_qitem *it = c->mgr->leading ? item(c, key) : NULL;
    if (!it) return;
    it->inflight += delta;
    if (it->inflight < 0) it->inflight = 0;
    if (it->inflight || !it->dirty) return;
    it->dirty = false;
    make_ready(c, it);
}

bool ctrl_queue_promote(struct ctrl *c, int64_t now)
{
    DICT_FOREACH(&c->items, e) {
        struct ctrl_qitem *it = e->val;
        if (it->delayed && it->due_ms <= now) make_ready(c, it);
    }
    return c->ready_head != NULL;
}

char *ctrl_queue_pop(struct ctrl *c)
{
    struct ctrl_qitem *it = c->ready_head;
    if (!it) return NULL;
    c->ready_head = it->next;
    if (!c->ready_head) c->ready_tail = NULL;
    it->ready = false;
    char *key = strdup(it->key);
    if (idle(it)) free(dict_del(&c->items, it->key));
    return key;
}

void ctrl_queue_clear(struct ctrl *c)
{
    dict_clear(&c->items, free);
    dict_clear(&c->exps, free);
    c->ready_head = c->ready_tail = NULL;
}

/* ---- expectations ------------------------------------------------------------ */

static struct ctrl_exp *exp_get(struct ctrl *c, const char *key, bool create)
{
    struct ctrl_exp *e = dict_get(&c->exps, key);
    if (e || !create) return e;
    if (!(e = calloc(1, sizeof *e))) return NULL;
    e->batch = 1;
    if (dict_put(&c->exps, key, e)) {
        free(e);
        return NULL;
    }
    return e;
}

void ctrl_expect(struct ctrl *c, const char *key, int adds, int dels)
{
    struct ctrl_exp *e = exp_get(c, key, true);
    if (!e) return;
    if (e->adds < 0) e->adds = 0;
    if (e->dels < 0) e->dels = 0;
    e->adds += adds;
    e->dels += dels;
    e->set_ms = ctrl_now_ms(c);
}

void ctrl_observed(struct ctrl *c, const char *key, int adds, int dels)
{
    struct ctrl_exp *e = exp_get(c, key, false);
    if (!e) return;
    e->adds -= adds;
    e->dels -= dels;
}

bool ctrl_satisfied(struct ctrl *c, const char *key)
{
    struct ctrl_exp *e = exp_get(c, key, false);
    if (!e || (e->adds <= 0 && e->dels <= 0)) return true;
    if (ctrl_now_ms(c) - e->set_ms > (int64_t)c->mgr->cfg.expectation_timeout_ms) {
        log_warn("ctrl", "%s: expectations of %s expired (%lld adds, %lld deletes unseen)",
                 c->def->name, key, (long long)e->adds, (long long)e->dels);
        e->adds = e->dels = 0;
        return true;
    }
    return false;
}

void ctrl_expect_drop(struct ctrl *c, const char *key)
{
    free(dict_del(&c->exps, key));
}

int ctrl_batch_size(struct ctrl *c, const char *key)
{
    struct ctrl_exp *e = exp_get(c, key, false);
    return e && e->batch > 0 ? e->batch : 1;
}

void ctrl_batch_used(struct ctrl *c, const char *key, int n)
{
    struct ctrl_exp *e = exp_get(c, key, true);
    if (!e) return;
    if (n >= e->batch) e->batch = e->batch >= 256 ? 500 : e->batch * 2;
}

void ctrl_batch_reset(struct ctrl *c, const char *key)
{
    struct ctrl_exp *e = exp_get(c, key, false);
    if (e) e->batch = 1;
}
