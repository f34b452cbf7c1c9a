/* dict.h: a chained hash map from strings to pointers, shared by the
 * components that keep caches keyed by "ns/name" (controllers, scheduler).
 *
 * Keys are copied into the entries; values are the caller's. FNV-1a
 * hashes are kept per entry, buckets are a power of two, and the table
 * doubles when it holds as many entries as buckets, so lookups stay O(1)
 * at 150,000 pods. A zeroed struct dict is an empty map. */
#ifndef BERTH_DICT_H
#define BERTH_DICT_H

#include <stddef.h>
#include <stdint.h>

struct dict_ent {
    struct dict_ent *next;
    void *val;
    uint64_t hash;
    char key[];
};

struct dict {
    struct dict_ent **b;
    size_t nb, n;
};

/* FNV-1a of a NUL-terminated string. */
uint64_t dict_hash(const char *s);

void *dict_get(const struct dict *d, const char *key);
/* Inserts or replaces (the old value stays the caller's); 0 or BE_NOMEM. */
int dict_put(struct dict *d, const char *key, void *val);
/* Removes key; returns its value or NULL. */
void *dict_del(struct dict *d, const char *key);
/* Empties the map, calling free_val (may be NULL) on each value. */
void dict_clear(struct dict *d, void (*free_val)(void *));

/* Iterates over every entry; the body must not add or remove entries. */
#define DICT_FOREACH(d, e)                                                    \
    for (size_t e##_i = 0; e##_i < (d)->nb; e##_i++)                          \
        for (struct dict_ent *e = (d)->b[e##_i]; e; e = e->next)

#endif
