/* feasible.c: the feasibility filters of the placement core (place.h) and
 * the usage bookkeeping they read.
 *
 * place_check() runs the filters in a fixed order and stops at the first
 * that rejects the node: Ready (condition Ready=True and a lease renewed
 * within the grace period), spec.unschedulable, taints (NoSchedule and
 * NoExecute must be tolerated; PreferNoSchedule never rejects), nodeSelector
 * and required node affinity, resources (cpu, memory, pod count: the node's
 * requests plus the pod's within allocatable), host ports. Each filter reads
 * only the node and the pod, so the result is a pure function of both. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "scheduler/place.h"

static const char *const reason_text[PR__COUNT] = {
    [PR_OK] = "",
    [PR_NOT_READY] = "node(s) were not ready",
    [PR_UNSCHEDULABLE] = "node(s) were unschedulable",
    [PR_TAINT] = "node(s) had untolerated taint",
    [PR_AFFINITY] = "node(s) didn't match Pod's node affinity/selector",
    [PR_CPU] = "Insufficient cpu",
    [PR_MEM] = "Insufficient memory",
    [PR_PODS] = "Too many pods",
    [PR_PORTS] = "node(s) didn't have free ports for the requested pod ports",
};

const char *place_reason_text(enum place_reason r)
{
    return r < PR__COUNT ? reason_text[r] : "unknown";
}

bool place_node_fresh(const struct place_snapshot *s, const struct sched_node *n)
{
    return s->now_ms - n->heartbeat_ms <= s->grace_ms;
}

bool place_tolerates(const struct sched_pod *p, const struct sched_taint *t,
                     int64_t *seconds)
{
    bool any = false;
    int64_t min = INT64_MAX;
    for (size_t i = 0; i < p->ntols; i++) {
        const struct sched_toleration *x = &p->tols[i];
        if (x->effect && x->effect != t->effect)
            continue;
        if (x->key[0] ? strcmp(x->key, t->key) != 0 : !x->exists)
            continue; /* an empty key needs Exists and then matches all */
        if (!x->exists && strcmp(x->value, t->value) != 0)
            continue;
        any = true;
        if (x->seconds >= 0 && x->seconds < min)
            min = x->seconds;
    }
    /* as Kubernetes: the smallest tolerationSeconds of the matching
     * tolerations; forever only when none of them sets it */
    if (seconds)
        *seconds = !any ? 0 : min == INT64_MAX ? -1 : min;
    return any;
}

static const char *label_of(const struct sched_node *n, const char *key)
{
    for (size_t i = 0; i < n->nlabels; i++)
        if (!strcmp(n->labels[i].key, key))
            return n->labels[i].value;
    return NULL;
}

static bool parse_int(const char *s, long long *out)
{
    char *end;
    if (!s || !*s)
        return false;
    errno = 0;
    *out = strtoll(s, &end, 10);
    return !*end && errno == 0;
}

static bool in_values(const struct sched_expr *x, const char *v)
{
    for (size_t i = 0; i < x->nvalues; i++)
        if (!strcmp(x->values[i], v))
            return true;
    return false;
}

static bool expr_matches(const struct sched_node *n, const struct sched_expr *x)
{
    const char *v;
    if (x->field) /* matchFields supports metadata.name only */
        v = !strcmp(x->key, "metadata.name") ? n->name : NULL;
    else
        v = label_of(n, x->key);
    long long a, b;
    switch (x->op) {
    case SX_IN: return v && in_values(x, v);
    case SX_NOTIN: return !v || !in_values(x, v);
    case SX_EXISTS: return v != NULL;
    case SX_NOTEXISTS: return v == NULL;
    case SX_GT:
    case SX_LT:
        if (!v || x->nvalues != 1 || !parse_int(v, &a) || !parse_int(x->values[0], &b))
            return false;
        return x->op == SX_GT ? a > b : a < b;
    }
    return false;
}

static bool affinity_matches(const struct sched_node *n, const struct sched_pod *p)
{
    for (size_t i = 0; i < p->nselector; i++) {
        const char *v = label_of(n, p->selector[i].key);
        if (!v || strcmp(v, p->selector[i].value))
            return false;
    }
    if (!p->nterms)
        return true;
    for (size_t i = 0; i < p->nterms; i++) {
        const struct sched_term *t = &p->terms[i];
        bool all = t->n > 0;
        for (size_t j = 0; all && j < t->n; j++)
            all = expr_matches(n, &t->exprs[j]);
        if (all)
            return true;
    }
    return false;
}

static bool port_used(const struct sched_node *n, uint32_t port)
{
    for (size_t i = 0; i < n->nports; i++)
        if (n->ports[i] == port)
            return true;
    return false;
}

enum place_reason place_check(const struct place_snapshot *s,
                              const struct sched_node *n,
                              const struct sched_pod *p, size_t *taint)
{
    if (!n->ready || !place_node_fresh(s, n))
        return PR_NOT_READY;
    if (n->unschedulable)
        return PR_UNSCHEDULABLE;
    for (size_t i = 0; i < n->ntaints; i++) {
        const struct sched_taint *t = &n->taints[i];
        if (t->effect == EFF_PREFER || place_tolerates(p, t, NULL))
            continue;
        if (taint)
            *taint = i;
        return PR_TAINT;
    }
    if (!affinity_matches(n, p))
        return PR_AFFINITY;
    if (n->used_cpu + p->cpu > n->alloc_cpu && p->cpu > 0)
        return PR_CPU;
    if (n->used_mem + p->mem > n->alloc_mem && p->mem > 0)
        return PR_MEM;
    if (n->used_pods + 1 > n->alloc_pods)
        return PR_PODS;
    for (size_t i = 0; i < p->nports; i++)
        if (port_used(n, p->ports[i]))
            return PR_PORTS;
    return PR_OK;
}

/* ---- usage -------------------------------------------------------------- */

uint32_t place_owner_count(const struct sched_node *n, uint64_t owner)
{
    if (!owner)
        return 0;
    for (size_t i = 0; i < n->nowners; i++)
        if (n->owners[i].owner == owner)
            return n->owners[i].n;
    return 0;
}

int place_assume(struct sched_node *n, const struct sched_pod *p)
{
    if (n->nports + p->nports > n->cap_ports) {
        size_t cap = n->cap_ports ? n->cap_ports : 4;
        while (cap < n->nports + p->nports)
            cap *= 2;
        uint32_t *np = realloc(n->ports, cap * sizeof *np);
        if (!np)
            return BE_NOMEM;
        n->ports = np;
        n->cap_ports = cap;
    }
    if (p->owner) {
        size_t i;
        for (i = 0; i < n->nowners && n->owners[i].owner != p->owner; i++)
            ;
        if (i == n->nowners) {
            if (n->nowners == n->cap_owners) {
                size_t cap = n->cap_owners ? n->cap_owners * 2 : 4;
                struct sched_owner_count *no = realloc(n->owners, cap * sizeof *no);
                if (!no)
                    return BE_NOMEM;
                n->owners = no;
                n->cap_owners = cap;
            }
            n->owners[n->nowners++] = (struct sched_owner_count){.owner = p->owner};
        }
        n->owners[i].n++;
    }
    if (p->nports)
        memcpy(n->ports + n->nports, p->ports, p->nports * sizeof *p->ports);
    n->nports += p->nports;
    n->used_cpu += p->cpu;
    n->used_mem += p->mem;
    n->used_pods++;
    return 0;
}

void place_forget(struct sched_node *n, const struct sched_pod *p)
{
    n->used_cpu -= p->cpu;
    n->used_mem -= p->mem;
    n->used_pods--;
    for (size_t j = 0; j < p->nports; j++) {
        for (size_t i = 0; i < n->nports; i++) {
            if (n->ports[i] == p->ports[j]) {
                n->ports[i] = n->ports[--n->nports];
                break;
            }
        }
    }
    for (size_t i = 0; p->owner && i < n->nowners; i++) {
        if (n->owners[i].owner == p->owner) {
            if (--n->owners[i].n == 0)
                n->owners[i] = n->owners[--n->nowners];
            break;
        }
    }
}
