/* round.c: scheduling rounds and the proposals that commit them.
 *
 * A round takes pods from the head of the active queue (at most
 * max_round_pods, and at most ROUND_BYTES of JSON so the batch fits one raft
 * entry) and places them one by one against the cached nodes. Consecutive
 * pods of the same shape share a run (place.h), so the replicas of one
 * ReplicaSet cost one scan of the nodes plus a heap operation each. Every
 * placement is assumed in the cache at once, so later pods of the round see
 * it. The round then proposes ONE batch: an UPDATE per placed pod (its
 * binding, conditioned on the revision the cache holds, with the node as
 * the store's node hint so node-filtered watches see it), and for each pod
 * that fits nowhere, when its message changed, a PodScheduled=False status
 * UPDATE and an Event CREATE.
 *
 * Answers: a binding refused (Conflict, NotFound) is forgotten and its pod
 * requeued if still pending; a refused condition or Event is written again
 * at the pod's next attempt. Every proposal records the epoch it was made
 * in; an answer from another epoch (leadership changed meanwhile) is
 * dropped, and so is one arriving after sched_close(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/uid.h"
#include "scheduler/sched_int.h"

#define ROUND_BYTES (6u << 20)
#define BACKOFF_BASE_MS 1000
#define BACKOFF_MAX_MS 10000
#define EVENT_REFRESH_MS 60000

struct item {
    enum item_kind kind;
    char *key; /* pod "ns/name" or node name */
};

struct batch {
    struct store_mut *muts;
    struct item *items;
    char **jsons;
    size_t n, cap, bytes;
};

struct commit {
    struct sched *s; /* NULL once the scheduler closed */
    uint64_t epoch;
    struct commit *prev, *next;
    struct item *items;
    size_t n;
};

struct batch *batch_new(void)
{
    return calloc(1, sizeof(struct batch));
}

size_t batch_len(const struct batch *b)
{
    return b->n;
}

size_t batch_bytes(const struct batch *b)
{
    return b->bytes;
}

int batch_add(struct batch *b, enum item_kind kind, const char *key,
              const struct store_mut *m, char *json)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        struct store_mut *nm = realloc(b->muts, cap * sizeof *nm);
        if (nm)
            b->muts = nm;
        struct item *ni = realloc(b->items, cap * sizeof *ni);
        if (ni)
            b->items = ni;
        char **nj = realloc(b->jsons, cap * sizeof *nj);
        if (nj)
            b->jsons = nj;
        if (!nm || !ni || !nj) {
            free(json);
            return BE_NOMEM;
        }
        b->cap = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(json);
        return BE_NOMEM;
    }
    b->muts[b->n] = *m;
    b->items[b->n] = (struct item){kind, k};
    b->jsons[b->n] = json;
    b->bytes += m->json_len + 256;
    b->n++;
    return 0;
}

static void items_free(struct item *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(items[i].key);
    free(items);
}

void batch_free(struct batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++)
        free(b->jsons[i]);
    items_free(b->items, b->n);
    free(b->muts);
    free(b->jsons);
    free(b);
}

/* ---- answers ------------------------------------------------------------ */

static void item_done(struct sched *s, const struct item *it, int rc)
{
    struct pod_ent *e = it->kind == IK_NODE ? NULL : cache_pod(s, it->key);
    switch (it->kind) {
    case IK_BIND:
        if (!rc) {
            s->st.bound++;
            if (e && e->state == PS_INFLIGHT)
                e->state = PS_IDLE;
            break;
        }
        s->st.conflicts++;
        if (!e)
            break;
        if (e->assumed)
            pod_unaccount(s, e);
        if (e->state == PS_INFLIGHT)
            e->state = PS_IDLE;
        if (pod_pending(&e->p))
            pod_enqueue(s, e, true);
        break;
    case IK_UNSCHED:
        if (rc && e)
            e->tried_gen = s->cluster_gen - 1; /* write it again at the next try */
        break;
    case IK_EVENT:
        if (rc && e) {
            free(e->event_name);
            e->event_name = NULL;
        }
        break;
    case IK_NODE: {
        struct node_ent *n = cache_node(s, it->key);
        if (n)
            n->writing = false;
        if (!rc)
            break;
        log_warn(SCHED_COMP, "node %s: lifecycle update failed: %s", it->key, be_strerror(rc));
        break;
    }
    case IK_EVICT:
        if (e)
            e->evicting = false;
        if (!rc) {
            s->st.evicted++;
            log_info(SCHED_COMP, "evicted pod %s from an unreachable node", it->key);
        }
        break;
    }
}

static void on_commit(void *data, int rc, const struct store_result *res, size_t n)
{
    struct commit *c = data;
    struct sched *s = c->s;
    if (s) {
        if (c->prev)
            c->prev->next = c->next;
        else
            s->inflight = c->next;
        if (c->next)
            c->next->prev = c->prev;
        s->ninflight--;
    }
    /* a deposed leader must not act: drop answers of another epoch, or
     * any that arrive before the store told us leadership is gone */
    if (s && s->leader && c->epoch == s->epoch && store_is_leader(s->store)) {
        for (size_t i = 0; i < c->n; i++)
            item_done(s, &c->items[i], rc ? rc : res[i].rc);
        sched_kick(s);
    }
    items_free(c->items, c->n);
    free(c);
}

void batch_commit(struct sched *s, struct batch *b)
{
    if (!b || !b->n) {
        batch_free(b);
        return;
    }
    for (size_t i = 0; i < b->n; i++) {
        b->muts[i].json = b->jsons[i];
        if (!b->jsons[i])
            b->muts[i].json_len = 0;
    }
    struct commit *c = calloc(1, sizeof *c);
    int rc = c ? store_propose(s->store, b->muts, b->n, on_commit, c) : BE_NOMEM;
    if (rc) {
        log_warn(SCHED_COMP, "proposal of %zu writes refused: %s", b->n, be_strerror(rc));
        for (size_t i = 0; i < b->n; i++)
            item_done(s, &b->items[i], rc);
        free(c);
        batch_free(b);
        return;
    }
    c->s = s;
    c->epoch = s->epoch;
    c->items = b->items;
    c->n = b->n;
    b->items = NULL;
    for (size_t i = 0; i < b->n; i++)
        free(b->jsons[i]);
    free(b->muts);
    free(b->jsons);
    free(b);
    c->next = s->inflight;
    if (s->inflight)
        s->inflight->prev = c;
    s->inflight = c;
    s->ninflight++;
}

void commits_detach(struct sched *s)
{
    for (struct commit *c = s->inflight; c; c = c->next)
        c->s = NULL;
    s->inflight = NULL;
    s->ninflight = 0;
}

/* ---- one pod ------------------------------------------------------------- */

static int add_bind(struct sched *s, struct batch *b, struct pod_ent *e,
                    struct node_ent *n, const char *ts)
{
    char *json = NULL;
    size_t len = 0;
    if (store_get(s->store, "pods", e->p.ns, e->p.name, &json, &len, NULL))
        return BE_NOTFOUND;
    char *out = wr_bind(json, n->n.name, ts, &len);
    free(json);
    if (!out)
        return BE_NOMEM;
    struct store_mut m = {.op = STORE_UPDATE, .resource = "pods", .ns = e->p.ns,
                          .name = e->p.name, .expect_rev = e->rev, .json_len = len,
                          .node = n->n.name, .owner = e->p.owner_uid};
    return batch_add(b, IK_BIND, e->key, &m, out);
}

static void add_event(struct sched *s, struct batch *b, struct pod_ent *e,
                      const char *msg, int64_t now, const char *ts, bool fresh)
{
    char first[40], name[300];
    size_t len;
    if (fresh || !e->event_name) {
        snprintf(name, sizeof name, "%.236s.%016llx", e->p.name,
                 (unsigned long long)(now * 1000000 + (int64_t)(++s->seq % 1000000)));
        free(e->event_name);
        if (!(e->event_name = strdup(name)))
            return;
        e->event_count = 0;
        e->event_first_ms = now;
        uid_new(e->event_uid);
        fresh = true;
    }
    e->event_count++;
    e->event_write_ms = now;
    wr_timestamp(e->event_first_ms, first, sizeof first);
    char *json = wr_event(&e->p, e->event_name, e->event_uid, msg, e->event_count, first, ts, &len);
    if (!json)
        return;
    struct store_mut m = {.op = fresh ? STORE_CREATE : STORE_UPDATE, .resource = "events",
                          .ns = e->p.ns, .name = e->event_name, .json_len = len};
    batch_add(b, IK_EVENT, e->key, &m, json);
}

static void unschedulable(struct sched *s, struct batch *b, struct pod_ent *e,
                          const struct place_result *res, int64_t now, const char *ts)
{
    char msg[1024];
    place_message(res, msg, sizeof msg);
    s->st.unschedulable++;
    e->attempts++;
    int64_t backoff = BACKOFF_BASE_MS;
    for (unsigned i = 1; i < e->attempts && backoff < BACKOFF_MAX_MS; i++)
        backoff *= 2;
    e->next_try_ms = now + (backoff < BACKOFF_MAX_MS ? backoff : BACKOFF_MAX_MS);
    e->tried_gen = s->cluster_gen;
    pod_park(s, e);
    if (e->p.sched_msg && !strcmp(e->p.sched_msg, msg)) {
        /* same reason: refresh the Event's count now and then, no status write */
        if (e->event_name && now - e->event_write_ms >= EVENT_REFRESH_MS)
            add_event(s, b, e, msg, now, ts, false);
        return;
    }
    char *json = NULL;
    size_t len = 0;
    if (store_get(s->store, "pods", e->p.ns, e->p.name, &json, &len, NULL))
        return;
    char *out = wr_unsched(json, msg, ts, &len);
    free(json);
    if (!out)
        return;
    log_debug(SCHED_COMP, "pod %s: %s", e->key, msg);
    struct store_mut m = {.op = STORE_UPDATE, .resource = "pods", .ns = e->p.ns,
                          .name = e->p.name, .expect_rev = e->rev, .json_len = len,
                          .owner = e->p.owner_uid};
    if (batch_add(b, IK_UNSCHED, e->key, &m, out) == 0)
        add_event(s, b, e, msg, now, ts, true);
}

/* ---- the round ------------------------------------------------------------ */

void sched_run_round(sched_t *s)
{
    if (!s->leader || !s->nactive || s->ninflight >= s->cfg.max_rounds_inflight)
        return;
    int64_t now = sched_now(s);
    char ts[40];
    wr_timestamp(now, ts, sizeof ts);
    struct place_snapshot snap = {
        .nodes = s->nodes, .n = s->nnodes, .now_ms = now,
        .grace_ms = s->cfg.node_grace_ms, .strategy = s->cfg.strategy,
        .cpu_weight = s->cfg.cpu_weight, .mem_weight = s->cfg.mem_weight,
    };
    if (s->ranks_dirty) {
        place_rank_names(&snap);
        s->ranks_dirty = false;
    }
    struct batch *b = batch_new();
    if (!b)
        return;
    struct place_run run;
    struct pod_ent *shape = NULL;
    size_t taken = 0;
    while (!dl_empty(&s->active) && taken < s->cfg.max_round_pods &&
           batch_bytes(b) < ROUND_BYTES) {
        struct pod_ent *e = dl_entry(s->active.next, struct pod_ent, q);
        pod_dequeue(s, e);
        taken++;
        if (shape && !sched_pod_same_shape(&shape->p, &e->p)) {
            place_run_end(&run);
            shape = NULL;
        }
        if (!shape) {
            if (place_run_begin(&run, &snap, &e->p)) {
                pod_enqueue(s, e, true);
                break;
            }
            shape = e;
        }
        int idx;
        if (place_run_next(&run, &e->p, &idx)) {
            pod_enqueue(s, e, true);
            break;
        }
        if (idx < 0) {
            unschedulable(s, b, e, &run.res, now, ts);
            continue;
        }
        struct node_ent *n = (struct node_ent *)snap.nodes[idx];
        e->node = n; /* the run assumed it on n */
        e->assumed = true;
        dl_push_back(&n->pods, &e->on_node);
        e->state = PS_INFLIGHT;
        e->attempts = 0;
        if (add_bind(s, b, e, n, ts)) { /* defensive: the cache has it, the store must */
            e->state = PS_IDLE;
            pod_unaccount(s, e);
            place_run_end(&run); /* its heap saw the assumption */
            shape = NULL;
        }
    }
    if (shape)
        place_run_end(&run);
    if (batch_len(b))
        s->st.rounds++;
    batch_commit(s, b);
    sched_kick(s);
}
