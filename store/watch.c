/* watch.c: the watch window ring and dispatch to watchers (see watch.h).
 *
 * The window is a ring of pointers to events; each event is one allocation
 * holding the change's strings and json, reused for a later change when it
 * is evicted and big enough, so steady state costs no allocation per event.
 * Revisions in the window are contiguous and ascending: base_rev is the
 * revision just before the oldest one kept, and a replay finds its starting
 * point by binary search.
 *
 * Watchers without a node filter sit in a doubly linked list per resource
 * (resources are few: a short list of them). Node-filtered watchers sit in
 * a chained hash keyed by (resource, node); an event visits the bucket of
 * the node it is on now and, if it moved, the one it was on before. The hash
 * only grows when no dispatch is running, so chains stay valid while
 * callbacks run. While a watcher of a resource asked for previous objects
 * (want_prev, counted per resource), the state machine copies each
 * update's old object into its event as well. */
#include "store/watch.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"

struct wev {
    size_t cap; /* bytes available in buf */
    struct watch_change c;
    char buf[];
};

struct wres {
    char *resource;
    store_watch_t *all; /* watchers of this resource without node filter */
    unsigned want_prev; /* watchers (any kind) that asked for prev_json */
    struct wres *next;
};

struct store_watch {
    struct watch_hub *hub;
    char *resource, *ns, *node; /* one allocation after the struct */
    store_watch_cb cb;
    void *data;
    uint64_t last_rev; /* last revision considered for this watcher */
    uint64_t hash;     /* node watchers: hash of (resource, node) */
    struct wres *res;  /* unfiltered watchers: their resource list */
    struct wres *pres; /* want_prev: the resource it is counted in */
    bool dead;
    store_watch_t *prev, *next, *grave_next;
};

struct watch_hub {
    struct wev **ring;
    size_t cap, head, count, undispatched;
    size_t capacity; /* configured window; cap may exceed it for a while */
    uint64_t base_rev, last_rev;
    struct wres *res;
    store_watch_t **buckets;
    size_t nbuckets, nnode, nwatch;
    int depth;
    store_watch_t *graveyard;
};

static uint64_t key_hash(const char *resource, const char *node)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = resource; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (const char *p = node; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return h;
}

int watch_hub_new(struct watch_hub **out, size_t capacity, uint64_t rev)
{
    struct watch_hub *h = calloc(1, sizeof *h);
    if (!h)
        return BE_NOMEM;
    h->cap = h->capacity = capacity ? capacity : 1;
    h->ring = calloc(h->cap, sizeof *h->ring);
    h->nbuckets = 64;
    h->buckets = calloc(h->nbuckets, sizeof *h->buckets);
    if (!h->ring || !h->buckets) {
        free(h->ring);
        free(h->buckets);
        free(h);
        return BE_NOMEM;
    }
    h->base_rev = h->last_rev = rev;
    *out = h;
    return 0;
}

static struct wev *ring_at(struct watch_hub *h, size_t i)
{
    return h->ring[(h->head + i) % h->cap];
}

/* Grows the ring when every slot holds a change not yet dispatched (an entry
 * with more mutations than the window). */
static int ring_grow(struct watch_hub *h)
{
    size_t ncap = h->cap * 2;
    struct wev **r = calloc(ncap, sizeof *r);
    if (!r)
        return BE_NOMEM;
    for (size_t i = 0; i < h->count; i++)
        r[i] = ring_at(h, i);
    free(h->ring);
    h->ring = r;
    h->cap = ncap;
    h->head = 0;
    return 0;
}

static void ring_clear(struct watch_hub *h)
{
    for (size_t i = 0; i < h->count; i++)
        free(ring_at(h, i));
    h->head = h->count = h->undispatched = 0;
}

static struct wev *evict(struct watch_hub *h)
{
    struct wev *old = h->ring[h->head];
    h->base_rev = old->c.rev;
    h->ring[h->head] = NULL;
    h->head = (h->head + 1) % h->cap;
    h->count--;
    return old;
}

static char *put(char **p, const char *s, size_t len)
{
    char *d = *p;
    if (len)
        memcpy(d, s, len);
    d[len] = 0;
    *p += len + 1;
    return d;
}

int watch_append(struct watch_hub *h, const struct watch_change *c)
{
    size_t rl = strlen(c->resource), nl = strlen(c->ns), al = strlen(c->name);
    size_t dl = c->node ? strlen(c->node) : 0;
    size_t pl = c->prev_node ? strlen(c->prev_node) : 0;
    size_t need = rl + nl + al + dl + pl + c->json_len + 6 +
                  (c->prev_json ? c->prev_json_len + 1 : 0);
    struct wev *e = NULL;

    if (h->count == h->cap && h->undispatched == h->count &&
        ring_grow(h) != 0)
        goto nomem;
    if (h->count >= h->capacity && h->count > h->undispatched) {
        /* evict the oldest, keep its memory if it fits */
        struct wev *old = evict(h);
        if (old->cap >= need && old->cap <= 4 * need + 256)
            e = old;
        else
            free(old);
    }
    if (!e) {
        e = malloc(sizeof *e + need);
        if (!e)
            goto nomem;
        e->cap = need;
    }
    char *p = e->buf;
    e->c.type = c->type;
    e->c.rev = c->rev;
    e->c.resource = put(&p, c->resource, rl);
    e->c.ns = put(&p, c->ns, nl);
    e->c.name = put(&p, c->name, al);
    e->c.node = c->node ? put(&p, c->node, dl) : NULL;
    e->c.prev_node = c->prev_node ? put(&p, c->prev_node, pl) : NULL;
    e->c.json = put(&p, c->json ? c->json : "", c->json_len);
    e->c.json_len = c->json_len;
    e->c.prev_json = c->prev_json ? put(&p, c->prev_json, c->prev_json_len) : NULL;
    e->c.prev_json_len = c->prev_json ? c->prev_json_len : 0;
    h->ring[(h->head + h->count) % h->cap] = e;
    h->count++;
    h->undispatched++;
    h->last_rev = c->rev;
    return 0;

nomem:
    /* the window must stay contiguous: drop it and start over after c */
    log_error("store", "watch window: out of memory at revision %llu; "
              "window reset", (unsigned long long)c->rev);
    ring_clear(h);
    h->base_rev = h->last_rev = c->rev;
    return BE_NOMEM;
}

/* What a watcher sees of a change: 0 (nothing) or the event type. */
static int match(const store_watch_t *w, const struct watch_change *c)
{
    if (strcmp(w->resource, c->resource) != 0)
        return 0;
    if (w->ns && strcmp(w->ns, c->ns) != 0)
        return 0;
    if (!w->node)
        return c->type;
    const char *now = c->node ? c->node : "";
    const char *before = c->prev_node ? c->prev_node : "";
    bool on_now = c->type != STORE_EV_DELETED && strcmp(now, w->node) == 0;
    bool on_before = c->type != STORE_EV_ADDED && strcmp(before, w->node) == 0;
    if (on_now && on_before)
        return STORE_EV_MODIFIED;
    if (on_now)
        return STORE_EV_ADDED;
    if (on_before)
        return STORE_EV_DELETED;
    return 0;
}

static void deliver(store_watch_t *w, const struct watch_change *c)
{
    if (w->dead || c->rev <= w->last_rev)
        return;
    w->last_rev = c->rev;
    int type = match(w, c);
    if (!type)
        return;
    struct store_event ev = {
        .type = (enum store_ev_type)type,
        .rev = c->rev,
        .resource = c->resource,
        .ns = c->ns,
        .name = c->name,
        .node = c->node,
        .json = c->json,
        .json_len = c->json_len,
        .prev_json = type == STORE_EV_MODIFIED ? c->prev_json : NULL,
        .prev_json_len = type == STORE_EV_MODIFIED ? c->prev_json_len : 0,
    };
    w->cb(w->data, &ev);
}

static void bury(struct watch_hub *h)
{
    if (h->depth > 0)
        return;
    while (h->graveyard) {
        store_watch_t *w = h->graveyard;
        h->graveyard = w->grave_next;
        free(w);
    }
}

static struct wres *find_res(struct watch_hub *h, const char *resource)
{
    for (struct wres *r = h->res; r; r = r->next)
        if (strcmp(r->resource, resource) == 0)
            return r;
    return NULL;
}

/* The resource's entry, made if missing; NULL when out of memory. */
static struct wres *res_get(struct watch_hub *h, const char *resource)
{
    struct wres *r = find_res(h, resource);
    if (r)
        return r;
    r = calloc(1, sizeof *r);
    if (!r || !(r->resource = strdup(resource))) {
        free(r);
        return NULL;
    }
    r->next = h->res;
    h->res = r;
    return r;
}

bool watch_wants_prev(struct watch_hub *h, const char *resource)
{
    struct wres *r = h->nwatch ? find_res(h, resource) : NULL;
    return r && r->want_prev > 0;
}

static void visit_bucket(struct watch_hub *h, const struct watch_change *c,
                         const char *node)
{
    uint64_t hv = key_hash(c->resource, node);
    store_watch_t *w = h->buckets[hv & (h->nbuckets - 1)];
    while (w) {
        store_watch_t *next = w->next;
        if (w->hash == hv && strcmp(w->node, node) == 0)
            deliver(w, c);
        w = next;
    }
}

/* A watcher unlinked during a callback keeps its next pointer and stays
 * allocated until the dispatch ends, so holding `next` across a callback is
 * safe; a watcher linked during a callback goes in at a list head and, if we
 * still reach it, its last_rev keeps it from a duplicate. */
static void dispatch_one(struct watch_hub *h, const struct watch_change *c)
{
    struct wres *r = find_res(h, c->resource);
    if (r) {
        store_watch_t *w = r->all;
        while (w) {
            store_watch_t *next = w->next;
            deliver(w, c);
            w = next;
        }
    }
    if (h->nnode == 0)
        return;
    const char *now = c->node ? c->node : "";
    const char *before = c->prev_node ? c->prev_node : "";
    visit_bucket(h, c, now);
    if (c->type == STORE_EV_MODIFIED && strcmp(now, before) != 0)
        visit_bucket(h, c, before);
}

void watch_dispatch(struct watch_hub *h)
{
    h->depth++;
    while (h->undispatched > 0) {
        struct wev *e = ring_at(h, h->count - h->undispatched);
        h->undispatched--;
        dispatch_one(h, &e->c);
    }
    /* back to the configured size after an entry larger than the window */
    while (h->undispatched == 0 && h->count > h->capacity)
        free(evict(h));
    h->depth--;
    bury(h);
}

void watch_reset(struct watch_hub *h, uint64_t rev)
{
    ring_clear(h);
    h->base_rev = h->last_rev = rev;
}

uint64_t watch_base_rev(struct watch_hub *h)
{
    return h->base_rev;
}

size_t watch_count(struct watch_hub *h)
{
    return h->nwatch;
}

static store_watch_t **head_of(store_watch_t *w)
{
    struct watch_hub *h = w->hub;
    if (w->node)
        return &h->buckets[w->hash & (h->nbuckets - 1)];
    return &w->res->all;
}

static void link_front(store_watch_t **head, store_watch_t *w)
{
    w->prev = NULL;
    w->next = *head;
    if (*head)
        (*head)->prev = w;
    *head = w;
}

static void rehash(struct watch_hub *h)
{
    size_t n = h->nbuckets * 2;
    store_watch_t **b = calloc(n, sizeof *b);
    if (!b)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < h->nbuckets; i++) {
        store_watch_t *w = h->buckets[i];
        while (w) {
            store_watch_t *next = w->next;
            link_front(&b[w->hash & (n - 1)], w);
            w = next;
        }
    }
    free(h->buckets);
    h->buckets = b;
    h->nbuckets = n;
}

/* First window position whose revision is > rev. */
static size_t window_find(struct watch_hub *h, uint64_t rev)
{
    size_t lo = 0, hi = h->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ring_at(h, mid)->c.rev <= rev)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int watch_start(struct watch_hub *h, const struct store_watch_opts *opts,
                store_watch_cb cb, void *data, store_watch_t **out)
{
    if (!opts || !opts->resource || !opts->resource[0] || !cb)
        return BE_INVAL;
    if (opts->from_rev < h->base_rev)
        return BE_GONE;
    size_t rl = strlen(opts->resource) + 1;
    size_t nl = opts->ns ? strlen(opts->ns) + 1 : 0;
    size_t dl = opts->node ? strlen(opts->node) + 1 : 0;
    store_watch_t *w = calloc(1, sizeof *w + rl + nl + dl);
    if (!w)
        return BE_NOMEM;
    char *p = (char *)(w + 1);
    w->resource = memcpy(p, opts->resource, rl);
    p += rl;
    if (opts->ns) {
        w->ns = memcpy(p, opts->ns, nl);
        p += nl;
    }
    if (opts->node)
        w->node = memcpy(p, opts->node, dl);
    w->hub = h;
    w->cb = cb;
    w->data = data;
    w->last_rev = opts->from_rev;
    if (opts->want_prev) {
        if (!(w->pres = res_get(h, w->resource))) {
            free(w);
            return BE_NOMEM;
        }
        w->pres->want_prev++;
    }

    if (w->node) {
        if (h->depth == 0 && h->nnode >= h->nbuckets)
            rehash(h);
        w->hash = key_hash(w->resource, w->node);
        h->nnode++;
    } else if (!(w->res = res_get(h, w->resource))) {
        if (w->pres)
            w->pres->want_prev--;
        free(w);
        return BE_NOMEM;
    }
    link_front(head_of(w), w);
    h->nwatch++;
    *out = w;

    h->depth++;
    for (size_t i = window_find(h, opts->from_rev); i < h->count && !w->dead;
         i++)
        deliver(w, &ring_at(h, i)->c);
    h->depth--;
    bury(h);
    return 0;
}

void watch_stop(store_watch_t *w)
{
    if (!w || w->dead)
        return;
    struct watch_hub *h = w->hub;
    w->dead = true;
    if (w->prev)
        w->prev->next = w->next;
    else
        *head_of(w) = w->next;
    if (w->next)
        w->next->prev = w->prev;
    /* keep w->next: a dispatch loop may be standing on w */
    if (w->node)
        h->nnode--;
    if (w->pres)
        w->pres->want_prev--;
    h->nwatch--;
    w->grave_next = h->graveyard;
    h->graveyard = w;
    bury(h);
}

static store_watch_t *any_watcher(struct watch_hub *h)
{
    for (struct wres *r = h->res; r; r = r->next)
        if (r->all)
            return r->all;
    if (h->nnode)
        for (size_t i = 0; i < h->nbuckets; i++)
            if (h->buckets[i])
                return h->buckets[i];
    return NULL;
}

void watch_hub_free(struct watch_hub *h)
{
    if (!h)
        return;
    store_watch_t *w;
    h->depth++;
    while ((w = any_watcher(h)) != NULL) {
        struct store_event ev = {
            .type = STORE_EV_CLOSED,
            .rev = h->last_rev,
            .resource = w->resource,
            .ns = "",
            .name = "",
        };
        w->cb(w->data, &ev);
        watch_stop(w);
    }
    h->depth--;
    bury(h);
    ring_clear(h);
    while (h->res) {
        struct wres *r = h->res;
        h->res = r->next;
        free(r->resource);
        free(r);
    }
    free(h->ring);
    free(h->buckets);
    free(h);
}
