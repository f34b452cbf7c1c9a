/* lifecycle.c: the node lifecycle controller and the retry of
 * unschedulable pods, run every tick (500 ms) on the leader.
 *
 * A node is fresh while its Lease (kube-node-lease/NAME, spec.renewTime)
 * was renewed within the grace period; the heartbeat never counts from
 * before this member became leader or first saw the node, so a new leader
 * gives every node a full grace period, as Kubernetes' node lifecycle
 * controller does. A node that is not fresh gets condition Ready=Unknown
 * (reason NodeStatusUnknown) and the NoExecute taint
 * node.kubernetes.io/unreachable with timeAdded; once the taint is older
 * than a pod's toleration (its tolerationSeconds for the taint, else the
 * configured eviction toleration; forever if it tolerates the taint without
 * a limit) the pod is deleted so its controller replaces it. When the lease
 * is renewed again the taint goes and our own Unknown becomes True.
 *
 * Retries: an unschedulable pod goes back to the active queue once the
 * cluster generation moved since its attempt (a node added or changed, a
 * pod's resources freed, a node fresh again) and its back-off (1 s doubling
 * to 10 s) has passed; every minute all of them are retried regardless.
 * All writes of one tick go into one proposal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "scheduler/sched_int.h"

#define FLUSH_MS 60000
#define MAX_EVICTIONS_PER_TICK 10000

static const struct sched_taint *unreachable_taint(const struct sched_node *n)
{
    for (size_t i = 0; i < n->ntaints; i++)
        if (n->taints[i].effect == EFF_NOEXECUTE && !strcmp(n->taints[i].key, TAINT_UNREACHABLE))
            return &n->taints[i];
    return NULL;
}

static void write_node(struct sched *s, struct batch *b, struct node_ent *n, bool unknown,
                       const char *ts)
{
    char *json = NULL;
    size_t len = 0;
    if (store_get(s->store, "nodes", "", n->n.name, &json, &len, NULL))
        return;
    char *out = wr_node(json, unknown, ts, s->cfg.node_grace_ms, &len);
    free(json);
    if (!out)
        return;
    struct store_mut m = {.op = STORE_UPDATE, .resource = "nodes", .ns = "",
                          .name = n->n.name, .expect_rev = n->rev, .json_len = len};
    if (batch_add(b, IK_NODE, n->n.name, &m, out))
        return;
    n->writing = true;
    if (unknown) {
        s->st.nodes_marked++;
        log_warn(SCHED_COMP, "node %s: lease not renewed within %u ms: Ready=Unknown, tainted %s",
                 n->n.name, s->cfg.node_grace_ms, TAINT_UNREACHABLE);
    } else {
        log_info(SCHED_COMP, "node %s: lease renewed: taint %s removed", n->n.name,
                 TAINT_UNREACHABLE);
    }
}

static size_t evict(struct sched *s, struct batch *b, struct node_ent *n,
                    const struct sched_taint *t, int64_t now, size_t budget)
{
    int64_t since = t->added_ms ? t->added_ms : n->n.heartbeat_ms + s->cfg.node_grace_ms;
    size_t done = 0;
    for (struct dlist *it = n->pods.next; it != &n->pods && done < budget; it = it->next) {
        struct pod_ent *e = dl_entry(it, struct pod_ent, on_node);
        if (e->evicting || e->assumed || e->p.terminal)
            continue;
        int64_t secs;
        bool tol = place_tolerates(&e->p, t, &secs);
        if (tol && secs < 0)
            continue; /* tolerates the taint forever: stays */
        int64_t limit = tol ? secs * 1000 : (int64_t)s->cfg.eviction_toleration_ms;
        if (now - since < limit)
            continue;
        struct store_mut m = {.op = STORE_DELETE, .resource = "pods", .ns = e->p.ns,
                              .name = e->p.name, .expect_rev = e->rev};
        if (batch_add(b, IK_EVICT, e->key, &m, NULL))
            break;
        e->evicting = true;
        done++;
    }
    return done;
}

static void retry_unschedulable(struct sched *s, int64_t now)
{
    bool flush = now - s->last_flush_ms >= FLUSH_MS;
    if (flush)
        s->last_flush_ms = now;
    struct dlist *it = s->unsched.next;
    while (it != &s->unsched) {
        struct dlist *next = it->next;
        struct pod_ent *e = dl_entry(it, struct pod_ent, q);
        if ((flush || e->tried_gen != s->cluster_gen) && now >= e->next_try_ms)
            pod_enqueue(s, e, false);
        it = next;
    }
}

void lifecycle_tick(struct sched *s)
{
    int64_t now = sched_now(s);
    char ts[40];
    wr_timestamp(now, ts, sizeof ts);
    struct batch *b = batch_new();
    if (!b)
        return;
    size_t budget = MAX_EVICTIONS_PER_TICK;
    for (size_t i = 0; i < s->nnodes; i++) {
        struct node_ent *n = (struct node_ent *)s->nodes[i];
        bool fresh = now - n->n.heartbeat_ms <= (int64_t)s->cfg.node_grace_ms;
        if (fresh != n->fresh) {
            n->fresh = fresh;
            if (fresh)
                s->cluster_gen++;
        }
        const struct sched_taint *t = unreachable_taint(&n->n);
        if (!n->writing) {
            if (!fresh && (n->n.ready || !t))
                write_node(s, b, n, true, ts);
            else if (fresh && t)
                write_node(s, b, n, false, ts);
        }
        if (t && !fresh && budget)
            budget -= evict(s, b, n, t, now, budget);
    }
    batch_commit(s, b);
    retry_unschedulable(s, now);
}
