/* dict.c: see dict.h. */
#include "common/dict.h"

#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

uint64_t dict_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static struct dict_ent **slot(const struct dict *d, const char *key, uint64_t h)
{
    struct dict_ent **pp = &d->b[h & (d->nb - 1)];
    while (*pp && ((*pp)->hash != h || strcmp((*pp)->key, key))) pp = &(*pp)->next;
    return pp;
}

void *dict_get(const struct dict *d, const char *key)
{
    if (!d->nb) return NULL;
    struct dict_ent *e = *slot(d, key, dict_hash(key));
    return e ? e->val : NULL;
}

static int grow(struct dict *d)
{
    size_t nb = d->nb ? d->nb * 2 : 16;
    struct dict_ent **b = calloc(nb, sizeof *b);
    if (!b) return BE_NOMEM;
    for (size_t i = 0; i < d->nb; i++) {
        for (struct dict_ent *e = d->b[i], *next; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    }
    free(d->b);
    d->b = b;
    d->nb = nb;
    return 0;
}

int dict_put(struct dict *d, const char *key, void *val)
{
    uint64_t h = dict_hash(key);
    if (d->nb) {
        struct dict_ent *e = *slot(d, key, h);
        if (e) {
            e->val = val;
            return 0;
        }
    }
    if (d->n >= d->nb && grow(d)) return BE_NOMEM;
    size_t len = strlen(key) + 1;
    struct dict_ent *e = malloc(sizeof *e + len);
    if (!e) return BE_NOMEM;
    memcpy(e->key, key, len);
    e->val = val;
    e->hash = h;
    struct dict_ent **head = &d->b[h & (d->nb - 1)];
    e->next = *head;
    *head = e;
    d->n++;
    return 0;
}

void *dict_del(struct dict *d, const char *key)
{
    if (!d->nb) return NULL;
    struct dict_ent **pp = slot(d, key, dict_hash(key)), *e = *pp;
    if (!e) return NULL;
    void *val = e->val;
    *pp = e->next;
    free(e);
    d->n--;
    return val;
}

void dict_clear(struct dict *d, void (*free_val)(void *))
{
    for (size_t i = 0; i < d->nb; i++) {
        for (struct dict_ent *e = d->b[i], *next; e; e = next) {
            next = e->next;
            if (free_val) free_val(e->val);
            free(e);
        }
    }
    free(d->b);
    d->b = NULL;
    d->nb = d->n = 0;
}
