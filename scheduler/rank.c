/* rank.c: ranking and choice of the placement core (place.h), the reason
 * message, and runs of same-shaped pods over a heap.
 *
 * The best node is the one with the highest score, then the fewest pods of
 * the pod's owner, then the lowest name rank; heap entries carry exactly
 * that key, so the heap's top is what a full scan would choose. A run scans
 * once, heapifies the feasible nodes and, per pod, takes the top, assumes the
 * pod there and re-checks only that node: it stays (re-keyed) if the next pod
 * of the same shape still fits, or leaves the heap and is counted under the
 * filter that now rejects it, so the counts stay exact when the heap drains. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "scheduler/place.h"

#define MAX_SCORE 100

static int resource_score(int64_t used, int64_t req, int64_t alloc, bool spread)
{
    int64_t r = used + req;
    if (r > alloc)
        r = alloc;
    if (r < 0)
        r = 0;
    return (int)((spread ? alloc - r : r) * MAX_SCORE / alloc);
}

int place_score(const struct place_snapshot *s, const struct sched_node *n,
                const struct sched_pod *p)
{
    int wc = s->cpu_weight, wm = s->mem_weight;
    if (wc <= 0 && wm <= 0)
        wc = wm = 1;
    bool spread = s->strategy == SCHED_SPREAD;
    int64_t sum = 0, w = 0;
    if (n->alloc_cpu > 0 && wc > 0) {
        sum += (int64_t)wc * resource_score(n->used_cpu, p->cpu, n->alloc_cpu, spread);
        w += wc;
    }
    if (n->alloc_mem > 0 && wm > 0) {
        sum += (int64_t)wm * resource_score(n->used_mem, p->mem, n->alloc_mem, spread);
        w += wm;
    }
    return w ? (int)(sum / w) : 0;
}

static int cmp_node_name(const void *a, const void *b)
{
    const struct sched_node *x = *(struct sched_node *const *)a;
    const struct sched_node *y = *(struct sched_node *const *)b;
    return strcmp(x->name, y->name);
}

void place_rank_names(struct place_snapshot *s)
{
    struct sched_node **tmp = malloc(s->n * sizeof *tmp);
    if (!tmp) { /* defensive: keep the previous ranks */
        return;
    }
    memcpy(tmp, s->nodes, s->n * sizeof *tmp);
    qsort(tmp, s->n, sizeof *tmp, cmp_node_name);
    for (size_t i = 0; i < s->n; i++)
        tmp[i]->rank = (uint32_t)i;
    free(tmp);
}

/* a ranks before b */
static bool better(const struct place_heap_ent *a, const struct place_heap_ent *b)
{
    if (a->score != b->score)
        return a->score > b->score;
    if (a->owners != b->owners)
        return a->owners < b->owners;
    return a->rank < b->rank;
}

static struct place_heap_ent entry_for(const struct place_snapshot *s, size_t idx,
                                       const struct sched_pod *p)
{
    const struct sched_node *n = s->nodes[idx];
    return (struct place_heap_ent){.score = place_score(s, n, p),
                                   .owners = place_owner_count(n, p->owner),
                                   .rank = n->rank,
                                   .idx = (uint32_t)idx};
}

/* ---- rejection counts ---------------------------------------------------- */

static int count_reject(struct place_result *res, const struct sched_node *n,
                        enum place_reason r, size_t taint)
{
    res->counts[r]++;
    if (r != PR_TAINT)
        return 0;
    const struct sched_taint *t = &n->taints[taint];
    for (size_t i = 0; i < res->ntaints; i++) {
        if (!strcmp(res->taints[i].key, t->key) && !strcmp(res->taints[i].value, t->value)) {
            res->taints[i].n++;
            return 0;
        }
    }
    if (res->ntaints == res->cap_taints) {
        size_t cap = res->cap_taints ? res->cap_taints * 2 : 4;
        struct place_taint_count *nt = realloc(res->taints, cap * sizeof *nt);
        if (!nt)
            return BE_NOMEM;
        res->taints = nt;
        res->cap_taints = cap;
    }
    res->taints[res->ntaints++] = (struct place_taint_count){t->key, t->value, 1};
    return 0;
}

static void result_reset(struct place_result *res, size_t total)
{
    memset(res->counts, 0, sizeof res->counts);
    res->ntaints = 0;
    res->node = -1;
    res->total = total;
}

void place_result_free(struct place_result *res)
{
    free(res->taints);
    res->taints = NULL;
    res->ntaints = res->cap_taints = 0;
}

int place_one(const struct place_snapshot *s, const struct sched_pod *p,
              struct place_result *res)
{
    struct place_heap_ent best = {0}, e;
    result_reset(res, s->n);
    for (size_t i = 0; i < s->n; i++) {
        size_t taint = 0;
        enum place_reason r = place_check(s, s->nodes[i], p, &taint);
        if (r != PR_OK) {
            if (count_reject(res, s->nodes[i], r, taint))
                return BE_NOMEM;
            continue;
        }
        e = entry_for(s, i, p);
        if (res->node < 0 || better(&e, &best)) {
            best = e;
            res->node = (int)i;
        }
    }
    return 0;
}

/* ---- message ------------------------------------------------------------ */

struct reason_line {
    uint32_t n;
    char text[320];
};

static int cmp_line(const void *a, const void *b)
{
    const struct reason_line *x = a, *y = b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return strcmp(x->text, y->text);
}

void place_message(const struct place_result *res, char *buf, size_t len)
{
    size_t avail = res->total;
    for (int r = 1; r < PR__COUNT; r++)
        avail -= res->counts[r];
    if (res->total == 0) {
        snprintf(buf, len, "0/0 nodes are available: no nodes registered.");
        return;
    }
    size_t cap = PR__COUNT + res->ntaints, nl = 0;
    struct reason_line *lines = calloc(cap, sizeof *lines);
    if (!lines) {
        snprintf(buf, len, "%zu/%zu nodes are available.", avail, res->total);
        return;
    }
    for (int r = 1; r < PR__COUNT; r++) {
        if (r == PR_TAINT || !res->counts[r])
            continue;
        lines[nl].n = res->counts[r];
        snprintf(lines[nl++].text, sizeof lines[0].text, "%s", place_reason_text(r));
    }
    for (size_t i = 0; i < res->ntaints; i++) {
        lines[nl].n = res->taints[i].n;
        snprintf(lines[nl++].text, sizeof lines[0].text, "%s {%s: %s}",
                 place_reason_text(PR_TAINT), res->taints[i].key, res->taints[i].value);
    }
    qsort(lines, nl, sizeof *lines, cmp_line);
    size_t off = (size_t)snprintf(buf, len, "%zu/%zu nodes are available", avail, res->total);
    for (size_t i = 0; i < nl && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%u %s", i ? ", " : ": ", lines[i].n,
                                lines[i].text);
    if (off < len)
        snprintf(buf + off, len - off, ".");
    free(lines);
}

/* ---- runs ----------------------------------------------------------------- */

static void sift_down(struct place_heap_ent *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && better(&h[l], &h[m]))
            m = l;
        if (r < n && better(&h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        struct place_heap_ent t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

int place_run_begin(struct place_run *r, struct place_snapshot *s,
                    const struct sched_pod *p)
{
    memset(r, 0, sizeof *r);
    r->s = s;
    r->shape = p;
    result_reset(&r->res, s->n);
    if (s->n && !(r->heap = malloc(s->n * sizeof *r->heap)))
        return BE_NOMEM;
    for (size_t i = 0; i < s->n; i++) {
        size_t taint = 0;
        enum place_reason why = place_check(s, s->nodes[i], p, &taint);
        if (why == PR_OK)
            r->heap[r->n++] = entry_for(s, i, p);
        else if (count_reject(&r->res, s->nodes[i], why, taint))
            goto nomem;
    }
    for (size_t i = r->n / 2; i-- > 0;)
        sift_down(r->heap, r->n, i);
    return 0;
nomem:
    place_run_end(r);
    return BE_NOMEM;
}

int place_run_next(struct place_run *r, const struct sched_pod *p, int *node)
{
    *node = -1;
    if (!r->n)
        return 0;
    uint32_t idx = r->heap[0].idx;
    struct sched_node *n = r->s->nodes[idx];
    if (place_assume(n, p))
        return BE_NOMEM;
    *node = (int)idx;
    size_t taint = 0;
    enum place_reason why = place_check(r->s, n, r->shape, &taint);
    if (why == PR_OK) {
        r->heap[0] = entry_for(r->s, idx, r->shape);
    } else {
        (void)count_reject(&r->res, n, why, taint); /* NOMEM: counts short */
        r->heap[0] = r->heap[--r->n];
    }
    sift_down(r->heap, r->n, 0);
    return 0;
}

void place_run_end(struct place_run *r)
{
    free(r->heap);
    place_result_free(&r->res);
    memset(r, 0, sizeof *r);
}
