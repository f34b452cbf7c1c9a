/* cache.c: the scheduler's informer caches (nodes, leases, pods), fed by
 * store watches at apply time, and the queues of pods to place.
 *
 * cache_start() lists nodes, leases and pods from the local state machine
 * and starts the three watches at the list's revision; nothing is applied
 * between the lists and the watch starts (all on the loop thread), so the
 * caches miss no change. Every event parses its object once (model.c).
 *
 * Accounting: a pod's requests count on the node in spec.nodeName while it
 * is not Succeeded/Failed, and on the node a round chose for it (assumed)
 * from the moment of the choice until our binding is applied (then it is
 * simply bound) or refused (then it is forgotten and requeued). A pod bound
 * to a node not in the cache is an orphan until that node appears.
 *
 * Queues: pods that are pending (see pod_pending) wait in the active queue,
 * FIFO; a pod that did not fit waits in the unschedulable set until the
 * cluster generation moves (a node added or changed, a pod's resources
 * freed, a lease renewed again) and its back-off has passed (lifecycle.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "scheduler/sched_int.h"

bool pod_pending(const struct sched_pod *p)
{
    return !p->node_name[0] && !p->deleting && !p->terminal;
}

struct pod_ent *cache_pod(struct sched *s, const char *key)
{
    return dict_get(&s->pods, key);
}

struct node_ent *cache_node(struct sched *s, const char *name)
{
    return dict_get(&s->nodes_by_name, name);
}

/* ---- queues ------------------------------------------------------------- */

void pod_dequeue(struct sched *s, struct pod_ent *e)
{
    if (e->state == PS_ACTIVE)
        s->nactive--;
    else if (e->state == PS_UNSCHED)
        s->nunsched--;
    if (dl_linked(&e->q))
        dl_remove(&e->q);
    e->state = PS_IDLE;
}

void pod_enqueue(struct sched *s, struct pod_ent *e, bool front)
{
    pod_dequeue(s, e);
    if (front)
        dl_push_front(&s->active, &e->q);
    else
        dl_push_back(&s->active, &e->q);
    e->state = PS_ACTIVE;
    s->nactive++;
    sched_kick(s);
}

void pod_park(struct sched *s, struct pod_ent *e)
{
    pod_dequeue(s, e);
    dl_push_back(&s->unsched, &e->q);
    e->state = PS_UNSCHED;
    s->nunsched++;
}

/* ---- accounting --------------------------------------------------------- */

int pod_account(struct sched *s, struct pod_ent *e, struct node_ent *n, bool assumed)
{
    int rc = place_assume(&n->n, &e->p);
    if (rc)
        return rc;
    e->node = n;
    e->assumed = assumed;
    dl_push_back(&n->pods, &e->on_node);
    return 0;
}

void pod_unaccount(struct sched *s, struct pod_ent *e)
{
    if (e->node) {
        place_forget(&e->node->n, &e->p);
        dl_remove(&e->on_node);
        e->node = NULL;
        s->cluster_gen++;
    }
    e->assumed = false;
}

void node_refresh_heartbeat(struct sched *s, struct node_ent *n)
{
    int64_t *lease = dict_get(&s->leases, n->n.name);
    int64_t hb = s->leader_since_ms > n->seen_ms ? s->leader_since_ms : n->seen_ms;
    if (lease && *lease > hb)
        hb = *lease;
    n->n.heartbeat_ms = hb;
}

/* ---- nodes -------------------------------------------------------------- */

static void node_free(void *v)
{
    struct node_ent *n = v;
    sched_node_free(&n->n);
    free(n);
}

/* Replaces what the object says, keeping the usage and rank. */
static void node_take_static(struct sched_node *dst, struct sched_node *src)
{
    struct sched_node keep = *dst;
    dst->ports = NULL;
    dst->owners = NULL;
    sched_node_free(dst);
    *dst = *src;
    dst->used_cpu = keep.used_cpu;
    dst->used_mem = keep.used_mem;
    dst->used_pods = keep.used_pods;
    dst->ports = keep.ports;
    dst->nports = keep.nports;
    dst->cap_ports = keep.cap_ports;
    dst->owners = keep.owners;
    dst->nowners = keep.nowners;
    dst->cap_owners = keep.cap_owners;
    dst->rank = keep.rank;
    dst->heartbeat_ms = keep.heartbeat_ms;
}

static void adopt_orphans(struct sched *s, struct node_ent *n)
{
    for (size_t i = 0; s->orphans && i < s->pods.nb; i++) {
        for (struct dict_ent *h = s->pods.b[i]; h; h = h->next) {
            struct pod_ent *e = h->val;
            if (e->orphan && !strcmp(e->p.node_name, n->n.name) && !pod_account(s, e, n, false)) {
                e->orphan = false;
                s->orphans--;
            }
        }
    }
}

static void node_upsert(struct sched *s, const json_t *obj, uint64_t rev)
{
    struct sched_node nn;
    if (sched_node_parse(obj, &nn))
        return;
    struct node_ent *n = cache_node(s, nn.name);
    if (n) {
        if (sched_node_changed(&n->n, &nn))
            s->cluster_gen++;
        node_take_static(&n->n, &nn);
        n->rev = rev;
        return;
    }
    if (s->nnodes == s->cap_nodes) {
        size_t cap = s->cap_nodes ? s->cap_nodes * 2 : 64;
        struct sched_node **a = realloc(s->nodes, cap * sizeof *a);
        if (!a)
            goto nomem;
        s->nodes = a;
        s->cap_nodes = cap;
    }
    if (!(n = calloc(1, sizeof *n)))
        goto nomem;
    n->n = nn;
    if (dict_put(&s->nodes_by_name, nn.name, n)) {
        free(n);
        goto nomem;
    }
    n->rev = rev;
    n->seen_ms = sched_now(s);
    dl_init(&n->pods);
    node_refresh_heartbeat(s, n);
    n->fresh = true;
    n->idx = s->nnodes;
    s->nodes[s->nnodes++] = &n->n;
    s->ranks_dirty = true;
    s->cluster_gen++;
    adopt_orphans(s, n);
    return;
nomem:
    log_error(SCHED_COMP, "out of memory caching node %s", nn.name);
    sched_node_free(&nn);
}

static void node_remove(struct sched *s, const char *name)
{
    struct node_ent *n = dict_del(&s->nodes_by_name, name);
    if (!n)
        return;
    while (!dl_empty(&n->pods)) {
        struct pod_ent *e = dl_entry(n->pods.next, struct pod_ent, on_node);
        bool was_assumed = e->assumed;
        pod_unaccount(s, e);
        if (!was_assumed) { /* bound there: wait for the node to come back */
            e->orphan = true;
            s->orphans++;
        } /* an assumed pod's binding will fail or land on a missing node */
    }
    s->nodes[n->idx] = s->nodes[--s->nnodes];
    ((struct node_ent *)s->nodes[n->idx])->idx = n->idx;
    s->ranks_dirty = true;
    node_free(n);
}

static void on_node_event(void *data, const struct store_event *ev)
{
    struct sched *s = data;
    if (ev->type == STORE_EV_CLOSED || !s->leader)
        return;
    if (ev->type == STORE_EV_DELETED) {
        node_remove(s, ev->name);
        return;
    }
    json_t *obj = json_loadb(ev->json, ev->json_len, 0, NULL);
    if (obj)
        node_upsert(s, obj, ev->rev);
    json_decref(obj);
}

/* ---- leases ------------------------------------------------------------- */

static void lease_set(struct sched *s, const char *name, const char *json, size_t len)
{
    json_t *obj = json_loadb(json, len, 0, NULL);
    int64_t ms = sched_parse_time_ms(json_path_str(obj, "spec.renewTime"));
    json_decref(obj);
    if (ms < 0)
        return;
    int64_t *cur = dict_get(&s->leases, name);
    if (!cur) {
        if (!(cur = malloc(sizeof *cur)) || dict_put(&s->leases, name, cur)) {
            free(cur);
            return;
        }
    }
    *cur = ms;
    struct node_ent *n = cache_node(s, name);
    if (n)
        node_refresh_heartbeat(s, n);
}

static void on_lease_event(void *data, const struct store_event *ev)
{
    struct sched *s = data;
    if (ev->type == STORE_EV_CLOSED || !s->leader)
        return;
    if (ev->type == STORE_EV_DELETED)
        free(dict_del(&s->leases, ev->name));
    else
        lease_set(s, ev->name, ev->json, ev->json_len);
}

/* ---- pods --------------------------------------------------------------- */

static void pod_free(void *v)
{
    struct pod_ent *e = v;
    sched_pod_free(&e->p);
    free(e->key);
    free(e->event_name);
    free(e);
}

static void pod_remove(struct sched *s, const char *key)
{
    struct pod_ent *e = dict_del(&s->pods, key);
    if (!e)
        return;
    pod_unaccount(s, e);
    if (e->orphan)
        s->orphans--;
    pod_dequeue(s, e);
    pod_free(e);
}

/* Moves the accounting of e from its old parse to np. */
static void pod_reaccount(struct sched *s, struct pod_ent *e, struct sched_pod *np)
{
    bool bound = np->node_name[0] && !np->terminal;
    if (e->orphan && (!bound || strcmp(np->node_name, e->p.node_name))) {
        e->orphan = false;
        s->orphans--;
    }
    if (e->node) {
        struct node_ent *n = e->node;
        bool same = bound && !strcmp(np->node_name, n->n.name);
        bool keep_assumed = e->assumed && !np->node_name[0] && !np->terminal && !np->deleting;
        if (same || keep_assumed) {
            bool assumed = keep_assumed;
            place_forget(&n->n, &e->p);
            dl_remove(&e->on_node);
            e->node = NULL;
            struct sched_pod old = e->p;
            e->p = *np;
            if (pod_account(s, e, n, assumed))
                log_error(SCHED_COMP, "out of memory accounting pod %s", e->key);
            e->p = old;
            return;
        }
        pod_unaccount(s, e);
    }
    if (bound && !e->orphan) {
        struct node_ent *n = cache_node(s, np->node_name);
        struct sched_pod old = e->p;
        e->p = *np;
        if (!n || pod_account(s, e, n, false)) {
            e->orphan = true;
            s->orphans++;
        }
        e->p = old;
    }
}

static void pod_upsert(struct sched *s, const char *key, const json_t *obj, uint64_t rev)
{
    struct sched_pod np;
    if (sched_pod_parse(obj, &np))
        return;
    struct pod_ent *e = cache_pod(s, key);
    if (!e) {
        if (!(e = calloc(1, sizeof *e)) || !(e->key = strdup(key)) ||
            dict_put(&s->pods, key, e)) {
            if (e)
                free(e->key);
            free(e);
            sched_pod_free(&np);
            log_error(SCHED_COMP, "out of memory caching pod %s", key);
            return;
        }
        dl_init(&e->q);
        dl_init(&e->on_node);
    }
    pod_reaccount(s, e, &np);
    if (e->p.name)
        sched_pod_free(&e->p);
    e->p = np;
    e->rev = rev;
    if (e->state == PS_INFLIGHT) {
        if (e->p.node_name[0])
            e->state = PS_IDLE; /* our binding (or someone's) applied */
        return;                 /* otherwise the commit answer decides */
    }
    if (!pod_pending(&e->p))
        pod_dequeue(s, e);
    else if (e->state == PS_IDLE)
        pod_enqueue(s, e, false);
}

static void pod_key(char *buf, size_t len, const char *ns, const char *name)
{
    snprintf(buf, len, "%s/%s", ns, name);
}

static void on_pod_event(void *data, const struct store_event *ev)
{
    struct sched *s = data;
    char key[600];
    if (ev->type == STORE_EV_CLOSED || !s->leader)
        return;
    pod_key(key, sizeof key, ev->ns, ev->name);
    if (ev->type == STORE_EV_DELETED) {
        pod_remove(s, key);
        return;
    }
    /* Our own binding applied (it was conditioned on the revision cached,
     * so the object is the cached one plus nodeName and PodScheduled=True):
     * no need to parse it again, which halves the cost of a placement. */
    struct pod_ent *e = ev->type == STORE_EV_MODIFIED ? cache_pod(s, key) : NULL;
    if (e && e->state == PS_INFLIGHT && e->assumed && e->node && ev->node &&
        !strcmp(ev->node, e->node->n.name)) {
        char *nn = strdup(ev->node);
        if (nn) {
            free(e->p.node_name);
            e->p.node_name = nn;
            free(e->p.sched_msg);
            e->p.sched_msg = NULL;
            e->assumed = false;
            e->rev = ev->rev;
            e->state = PS_IDLE;
            return;
        }
    }
    json_t *obj = json_loadb(ev->json, ev->json_len, 0, NULL);
    if (obj)
        pod_upsert(s, key, obj, ev->rev);
    json_decref(obj);
}

/* ---- start / stop -------------------------------------------------------- */

static int list_node(void *data, const char *ns, const char *name, uint64_t rev,
                     const char *json, size_t len)
{
    struct store_event ev = {.type = STORE_EV_ADDED, .rev = rev, .ns = ns, .name = name,
                             .json = json, .json_len = len};
    on_node_event(data, &ev);
    return 0;
}

static int list_lease(void *data, const char *ns, const char *name, uint64_t rev,
                      const char *json, size_t len)
{
    lease_set(data, name, json, len);
    return 0;
}

static int list_pod(void *data, const char *ns, const char *name, uint64_t rev,
                    const char *json, size_t len)
{
    struct store_event ev = {.type = STORE_EV_ADDED, .rev = rev, .ns = ns, .name = name,
                             .json = json, .json_len = len};
    on_pod_event(data, &ev);
    return 0;
}

int cache_start(struct sched *s)
{
    uint64_t rev = 0;
    struct store_list_opts lease_opts = {.ns = LEASE_NS};
    struct store_watch_opts wo = {0};
    int rc;
    dl_init(&s->active);
    dl_init(&s->unsched);
    if ((rc = store_list(s->store, "nodes", NULL, list_node, s, NULL)) ||
        (rc = store_list(s->store, "leases", &lease_opts, list_lease, s, NULL)) ||
        (rc = store_list(s->store, "pods", NULL, list_pod, s, &rev)))
        return rc;
    for (size_t i = 0; i < s->nnodes; i++) /* leases listed after the nodes */
        node_refresh_heartbeat(s, (struct node_ent *)s->nodes[i]);
    wo.from_rev = rev;
    wo.resource = "nodes";
    if ((rc = store_watch_start(s->store, &wo, on_node_event, s, &s->w_nodes)))
        return rc;
    wo.resource = "leases";
    wo.ns = LEASE_NS;
    if ((rc = store_watch_start(s->store, &wo, on_lease_event, s, &s->w_leases)))
        return rc;
    wo.resource = "pods";
    wo.ns = NULL;
    return store_watch_start(s->store, &wo, on_pod_event, s, &s->w_pods);
}

void cache_stop(struct sched *s)
{
    store_watch_t **ws[] = {&s->w_nodes, &s->w_leases, &s->w_pods};
    for (size_t i = 0; i < 3; i++) {
        if (*ws[i])
            store_watch_stop(*ws[i]);
        *ws[i] = NULL;
    }
    /* pods first: they point at nodes */
    dict_clear(&s->pods, pod_free);
    dict_clear(&s->nodes_by_name, node_free);
    dict_clear(&s->leases, free);
    free(s->nodes);
    s->nodes = NULL;
    s->nnodes = s->cap_nodes = 0;
    dl_init(&s->active);
    dl_init(&s->unsched);
    s->nactive = s->nunsched = s->orphans = 0;
}
