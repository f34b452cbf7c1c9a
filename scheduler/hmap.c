/* hmap.c: a chained hash map from strings to pointers for the scheduler's
 * caches (sched_int.h). Keys are copied; the table doubles when it holds
 * as many entries as buckets, so lookups stay O(1) at 150,000 pods. */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "scheduler/sched_int.h"

static struct hmap_ent **find(const struct hmap *m, const char *key, uint64_t h)
{
    struct hmap_ent **pp = &m->b[h & (m->nb - 1)];
    while (*pp && ((*pp)->hash != h || strcmp((*pp)->key, key)))
        pp = &(*pp)->next;
    return pp;
}

void *hmap_get(const struct hmap *m, const char *key)
{
    if (!m->nb)
        return NULL;
    struct hmap_ent *e = *find(m, key, sched_hash(key));
    return e ? e->val : NULL;
}

static int grow(struct hmap *m)
{
    size_t nb = m->nb ? m->nb * 2 : 64;
    struct hmap_ent **b = calloc(nb, sizeof *b);
    if (!b)
        return BE_NOMEM;
    for (size_t i = 0; i < m->nb; i++) {
        struct hmap_ent *e = m->b[i], *next;
        for (; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
    return 0;
}

int hmap_put(struct hmap *m, const char *key, void *val)
{
    if (m->n >= m->nb && grow(m))
        return BE_NOMEM;
    uint64_t h = sched_hash(key);
    struct hmap_ent **pp = find(m, key, h);
    if (*pp) {
        (*pp)->val = val;
        return 0;
    }
    struct hmap_ent *e = malloc(sizeof *e);
    if (!e || !(e->key = strdup(key))) {
        free(e);
        return BE_NOMEM;
    }
    e->val = val;
    e->hash = h;
    e->next = NULL;
    *pp = e;
    m->n++;
    return 0;
}

void *hmap_del(struct hmap *m, const char *key)
{
    if (!m->nb)
        return NULL;
    struct hmap_ent **pp = find(m, key, sched_hash(key)), *e = *pp;
    if (!e)
        return NULL;
    void *val = e->val;
    *pp = e->next;
    free(e->key);
    free(e);
    m->n--;
    return val;
}

void hmap_clear(struct hmap *m, void (*fn)(void *val))
{
    for (size_t i = 0; i < m->nb; i++) {
        struct hmap_ent *e = m->b[i], *next;
        for (; e; e = next) {
            next = e->next;
            if (fn)
                fn(e->val);
            free(e->key);
            free(e);
        }
    }
    free(m->b);
    memset(m, 0, sizeof *m);
}
