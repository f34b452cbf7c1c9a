/* cache.c: the informer caches.
 *
 * One informer per resource some controller reads. Each holds the objects
 * by "ns/name" (struct ctrl_obj with the parsed JSON, never mutated once
 * cached), a per-namespace doubly-linked list for namespace listings, and
 * feeds two indexes of the manager shared by all resources: uid -> object
 * and owner uid -> dependents (from metadata.ownerReferences). A change
 * (from the initial list or the watch) replaces the cached object, updates
 * the indexes and is handed to every controller that reads the resource,
 * with the previous state, before that state is freed. */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "controllers/ctrl_int.h"

struct ctrl_informer *ctrl_informer_find(struct ctrl_manager *m, const char *resource)
{
    for (size_t i = 0; i < m->ninfs; i++)
        if (!strcmp(m->infs[i].resource, resource)) return &m->infs[i];
    return NULL;
}

static void obj_free(struct ctrl_obj *o)
{
    if (!o) return;
    for (size_t i = 0; i < o->nowners; i++) free(o->owner_uids[i]);
    free(o->owner_uids);
    free(o->ns);
    free(o->name);
    free(o->uid);
    json_decref(o->obj);
    free(o);
}

static struct ctrl_obj *obj_new(struct ctrl_informer *inf, const char *ns, const char *name,
                                uint64_t rev, json_t *j)
{
    struct ctrl_obj *o = calloc(1, sizeof *o);
    if (!o) goto err;
    o->resource = inf->resource;
    o->inf = inf;
    o->rev = rev;
    o->obj = j;
    o->ns = strdup(ns);
    o->name = strdup(name);
    const char *uid = json_path_str(j, "metadata.uid");
    if (!o->ns || !o->name || (uid && !(o->uid = strdup(uid)))) goto err_obj;
    json_t *refs = json_path(j, "metadata");
    refs = refs ? json_object_get(refs, "ownerReferences") : NULL;
    size_t n = json_array_size(refs);
    if (n) {
        if (!(o->owner_uids = calloc(n, sizeof *o->owner_uids))) goto err_obj;
        for (size_t i = 0; i < n; i++) {
            const char *u = json_string_value(json_object_get(json_array_get(refs, i), "uid"));
            if (u && !(o->owner_uids[o->nowners++] = strdup(u))) goto err_obj;
        }
    }
    return o;
err_obj:
    obj_free(o);
    return NULL;
err:
    json_decref(j);
    return NULL;
}

/* ---- indexes ---------------------------------------------------------------- */

static void owner_add(struct ctrl_manager *m, const char *uid, struct ctrl_obj *o)
{
    struct ctrl_objvec *v = dict_get(&m->by_owner, uid);
    if (!v) {
        if (!(v = calloc(1, sizeof *v)) || dict_put(&m->by_owner, uid, v)) {
            free(v);
            return;
        }
    }
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 4;
        struct ctrl_obj **nv = realloc(v->v, cap * sizeof *nv);
        if (!nv) return;
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = o;
}

static void owner_del(struct ctrl_manager *m, const char *uid, struct ctrl_obj *o)
{
    struct ctrl_objvec *v = dict_get(&m->by_owner, uid);
    if (!v) return;
    for (size_t i = 0; i < v->n; i++) {
        if (v->v[i] == o) {
            v->v[i] = v->v[--v->n];
            break;
        }
    }
    if (!v->n) {
        dict_del(&m->by_owner, uid);
        free(v->v);
        free(v);
    }
}

static void index_add(struct ctrl_informer *inf, struct ctrl_obj *o)
{
    struct ctrl_manager *m = inf->mgr;
    if (o->uid) dict_put(&m->by_uid, o->uid, o);
    for (size_t i = 0; i < o->nowners; i++) owner_add(m, o->owner_uids[i], o);
    struct ctrl_obj *head = dict_get(&inf->by_ns, o->ns);
    o->ns_prev = NULL;
    o->ns_next = head;
    if (head) head->ns_prev = o;
    dict_put(&inf->by_ns, o->ns, o);
}

static void index_del(struct ctrl_informer *inf, struct ctrl_obj *o)
{
    struct ctrl_manager *m = inf->mgr;
    if (o->uid && dict_get(&m->by_uid, o->uid) == o) dict_del(&m->by_uid, o->uid);
    for (size_t i = 0; i < o->nowners; i++) owner_del(m, o->owner_uids[i], o);
    if (o->ns_prev) o->ns_prev->ns_next = o->ns_next;
    else if (o->ns_next) dict_put(&inf->by_ns, o->ns, o->ns_next);
    else dict_del(&inf->by_ns, o->ns);
    if (o->ns_next) o->ns_next->ns_prev = o->ns_prev;
    o->ns_prev = o->ns_next = NULL;
}

/* ---- changes ------------------------------------------------------------------ */

static void dispatch(struct ctrl_manager *m, const char *resource, enum store_ev_type type,
                     const struct ctrl_obj *old, const struct ctrl_obj *obj)
{
    for (size_t i = 0; i < m->nctrls; i++) {
        struct ctrl *c = &m->ctrls[i];
        for (const char *const *r = c->def->resources; *r; r++) {
            if (!strcmp(*r, resource)) {
                if (c->def->on_event) c->def->on_event(c, type, old, obj);
                break;
            }
        }
    }
}

void ctrl_cache_apply(struct ctrl_informer *inf, enum store_ev_type type, const char *ns,
                      const char *name, uint64_t rev, const char *json, size_t len)
{
    struct ctrl_manager *m = inf->mgr;
    char key[512];
    ctrl_key(key, sizeof key, ns, name);
    json_error_t je;
    json_t *j = json_loadb(json, len, 0, &je);
    if (!json_is_object(j)) {
        log_warn("ctrl", "%s %s: unparsable object in the store: %s", inf->resource, key, je.text);
        json_decref(j);
        return;
    }
    struct ctrl_obj *old = dict_get(&inf->objs, key);
    struct ctrl_obj *o = obj_new(inf, ns, name, rev, j);
    if (!o) {
        log_error("ctrl", "out of memory caching %s %s", inf->resource, key);
        return;
    }
    if (old) index_del(inf, old);
    if (type == STORE_EV_DELETED) {
        dict_del(&inf->objs, key);
        if (old) dispatch(m, inf->resource, type, old, o);
        obj_free(o);
    } else {
        if (dict_put(&inf->objs, key, o)) {
            log_error("ctrl", "out of memory caching %s %s", inf->resource, key);
            if (old) dict_del(&inf->objs, key);
            obj_free(o);
            o = NULL;
        } else {
            index_add(inf, o);
            dispatch(m, inf->resource, old ? STORE_EV_MODIFIED : STORE_EV_ADDED, old, o);
        }
    }
    obj_free(old);
}

static void free_obj_val(void *p)
{
    obj_free(p);
}

void ctrl_cache_clear(struct ctrl_informer *inf)
{
    DICT_FOREACH(&inf->objs, e) index_del(inf, e->val);
    dict_clear(&inf->objs, free_obj_val);
    dict_clear(&inf->by_ns, NULL);
}

/* ---- reads ------------------------------------------------------------------------ */

const struct ctrl_obj *ctrl_get_key(struct ctrl *c, const char *resource, const char *key)
{
    struct ctrl_informer *inf = ctrl_informer_find(c->mgr, resource);
    return inf ? dict_get(&inf->objs, key) : NULL;
}

const struct ctrl_obj *ctrl_get(struct ctrl *c, const char *resource, const char *ns,
                                const char *name)
{
    char key[512];
    ctrl_key(key, sizeof key, ns, name);
    return ctrl_get_key(c, resource, key);
}

const struct ctrl_obj *ctrl_by_uid(struct ctrl *c, const char *uid)
{
    return uid ? dict_get(&c->mgr->by_uid, uid) : NULL;
}

static int by_name(const void *a, const void *b)
{
    const struct ctrl_obj *x = *(const struct ctrl_obj *const *)a;
    const struct ctrl_obj *y = *(const struct ctrl_obj *const *)b;
    int r = strcmp(x->ns, y->ns);
    if (!r) r = strcmp(x->name, y->name);
    return r ? r : strcmp(x->resource, y->resource);
}

size_t ctrl_list(struct ctrl *c, const char *resource, const char *ns,
                 const struct ctrl_obj ***out)
{
    struct ctrl_informer *inf = ctrl_informer_find(c->mgr, resource);
    *out = NULL;
    if (!inf || !inf->objs.n) return 0;
    const struct ctrl_obj **v = malloc(inf->objs.n * sizeof *v);
    size_t n = 0;
    if (!v) return 0;
    if (ns) {
        for (struct ctrl_obj *o = dict_get(&inf->by_ns, ns); o; o = o->ns_next) v[n++] = o;
    } else {
        DICT_FOREACH(&inf->objs, e) v[n++] = e->val;
    }
    if (!n) {
        free(v);
        return 0;
    }
    qsort(v, n, sizeof *v, by_name);
    *out = v;
    return n;
}

size_t ctrl_dependents(struct ctrl *c, const char *uid, const struct ctrl_obj ***out)
{
    struct ctrl_objvec *v = uid ? dict_get(&c->mgr->by_owner, uid) : NULL;
    *out = NULL;
    if (!v || !v->n) return 0;
    const struct ctrl_obj **a = malloc(v->n * sizeof *a);
    if (!a) return 0;
    memcpy(a, v->v, v->n * sizeof *a);
    qsort(a, v->n, sizeof *a, by_name);
    *out = a;
    return v->n;
}
