/* gc.c: the garbage collector over ownerReferences.
 *
 * Keys are "resource/ns/name" of objects that have owners (or are being
 * deleted with a finalizer). For a dependent, each ownerReference is
 * resolved by uid in the caches (the caches are exact: the watch applies
 * every change before anything else runs):
 *   - present and alive: a solid owner; the dependent stays.
 *   - absent, and of a kind this manager caches: dangling. With no solid
 *     owner left the dependent is deleted (Background propagation); with
 *     some, the dangling references are removed.
 *   - present with deletionTimestamp and the "orphan" finalizer: the
 *     reference is removed (Orphan propagation).
 *   - present with deletionTimestamp and "foregroundDeletion": the dependent
 *     is deleted, itself in foreground if it has dependents of its own
 *     (with only dangling owners it is deleted at once: Background).
 * For an owner carrying one of those finalizers (the Kubernetes convention
 * for Foreground and Orphan), the finalizer is removed once no dependent
 * refers to it any more, and the object is deleted once its finalizers are
 * empty. A plain delete (the API server's behaviour today for every policy)
 * shows up as a DELETED event, so it always propagates as Background; the
 * API server honours Foreground/Orphan only if its DELETE handler sets
 * deletionTimestamp and the finalizer instead of deleting at once. */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/kinds.h"
#include "common/log.h"
#include "controllers/ctrl_int.h"

#define FIN_ORPHAN "orphan"
#define FIN_FOREGROUND "foregroundDeletion"

static const char *const gc_resources[] = {"pods", "replicasets", "deployments", "daemonsets",
                                           "statefulsets", "jobs", "cronjobs", NULL};

static bool has_finalizer(const json_t *obj, const char *fin)
{
    json_t *f = json_path(obj, "metadata");
    f = f ? json_object_get(f, "finalizers") : NULL;
    size_t i;
    json_t *v;
    json_array_foreach(f, i, v)
        if (json_is_string(v) && !strcmp(json_string_value(v), fin)) return true;
    return false;
}

static bool gc_finalizing(const json_t *obj)
{
    return ctrl_deleting(obj) && (has_finalizer(obj, FIN_ORPHAN) || has_finalizer(obj, FIN_FOREGROUND));
}

static void enqueue_obj(struct ctrl *c, const struct ctrl_obj *o)
{
    char key[600];
    snprintf(key, sizeof key, "%s/%s/%s", o->resource, o->ns, o->name);
    ctrl_enqueue(c, key);
}

static void enqueue_dependents(struct ctrl *c, const char *uid)
{
    const struct ctrl_obj **deps;
    size_t n = ctrl_dependents(c, uid, &deps);
    for (size_t i = 0; i < n; i++) enqueue_obj(c, deps[i]);
    free(deps);
}

static void gc_on_event(struct ctrl *c, enum store_ev_type type, const struct ctrl_obj *old,
                        const struct ctrl_obj *obj)
{
    if (type == STORE_EV_DELETED) {
        if (obj->uid) enqueue_dependents(c, obj->uid);
    } else {
        bool check = false;
        for (size_t i = 0; i < obj->nowners; i++) {
            const struct ctrl_obj *owner = ctrl_by_uid(c, obj->owner_uids[i]);
            if (!owner || gc_finalizing(owner->obj)) check = true;
        }
        if (check) enqueue_obj(c, obj);
        if (gc_finalizing(obj->obj)) {
            enqueue_obj(c, obj);
            if (obj->uid) enqueue_dependents(c, obj->uid);
        }
    }
    /* an owner waiting for its dependents looks again when one goes or
     * changes, also when the change released it (the old object's owners) */
    const struct ctrl_obj *states[2] = {obj, old};
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; states[k] && i < states[k]->nowners; i++) {
            const struct ctrl_obj *owner = ctrl_by_uid(c, states[k]->owner_uids[i]);
            if (owner && gc_finalizing(owner->obj)) enqueue_obj(c, owner);
        }
}

/* Whether the kind of an ownerReference is one this manager caches, so that
 * its absence from the caches means it does not exist. */
static bool owner_kind_cached(struct ctrl *c, const json_t *ref)
{
    const char *av = json_string_value(json_object_get(ref, "apiVersion"));
    const char *kind = json_string_value(json_object_get(ref, "kind"));
    const struct kind_info *k = av && kind ? kind_by_api_kind(av, kind) : NULL;
    return k && ctrl_informer_find(c->mgr, k->resource);
}

/* Marks o for foreground deletion (it has dependents of its own). */
static int delete_foreground(struct ctrl *c, const struct ctrl_obj *o)
{
    json_t *copy = json_deep_copy(o->obj);
    if (!copy) return BE_NOMEM;
    json_t *md = json_object_get(copy, "metadata");
    char ts[32];
    ctrl_timestamp(c, ts);
    if (!json_object_get(md, "deletionTimestamp"))
        json_object_set_new(md, "deletionTimestamp", json_string(ts));
    json_t *fins = json_object_get(md, "finalizers");
    if (!json_is_array(fins)) json_object_set_new(md, "finalizers", fins = json_array());
    if (!has_finalizer(copy, FIN_FOREGROUND)) json_array_append_new(fins, json_string(FIN_FOREGROUND));
    return ctrl_update(c, o, copy);
}

static int sync_dependent(struct ctrl *c, const struct ctrl_obj *o)
{
    json_t *refs = json_object_get(json_object_get(o->obj, "metadata"), "ownerReferences");
    size_t n = json_array_size(refs), solid = 0, doomed = 0, i;
    bool foreground = false;
    bool *drop = calloc(n ? n : 1, sizeof *drop);
    if (!drop) return BE_NOMEM;
    json_t *ref;
    json_array_foreach(refs, i, ref) {
        const char *uid = json_string_value(json_object_get(ref, "uid"));
        const struct ctrl_obj *owner = ctrl_by_uid(c, uid);
        if (!owner) {
            if (owner_kind_cached(c, ref)) {
                doomed++;
                drop[i] = true;
            } else {
                solid++;
            }
        } else if (ctrl_deleting(owner->obj) && has_finalizer(owner->obj, FIN_ORPHAN)) {
            drop[i] = true;
        } else if (ctrl_deleting(owner->obj) && has_finalizer(owner->obj, FIN_FOREGROUND)) {
            doomed++;
            foreground = true;
        } else {
            solid++;
        }
    }
    int rc = 0;
    if (!solid && doomed) {
        if (ctrl_deleting(o->obj)) goto out; /* already on its way */
        const struct ctrl_obj **deps;
        size_t nd = foreground && o->uid ? ctrl_dependents(c, o->uid, &deps) : 0;
        if (nd) free(deps);
        log_info("ctrl", "gc: deleting %s %s/%s: its owners are gone", o->resource, o->ns, o->name);
        rc = nd ? delete_foreground(c, o) : ctrl_delete(c, o, NULL);
        goto out;
    }
    size_t ndrop = 0;
    for (i = 0; i < n; i++) ndrop += drop[i];
    if (!ndrop) goto out;
    json_t *copy = json_deep_copy(o->obj);
    json_t *nrefs = json_array();
    if (!copy || !nrefs) {
        json_decref(copy);
        json_decref(nrefs);
        rc = BE_NOMEM;
        goto out;
    }
    json_array_foreach(refs, i, ref)
        if (!drop[i]) json_array_append(nrefs, ref);
    json_t *md = json_object_get(copy, "metadata");
    if (json_array_size(nrefs)) json_object_set_new(md, "ownerReferences", nrefs);
    else {
        json_decref(nrefs);
        json_object_del(md, "ownerReferences");
    }
    rc = ctrl_update(c, o, copy);
out:
    free(drop);
    return rc;
}

/* An owner being deleted with a finalizer: drop the finalizer when no
 * dependent refers to it; delete it when no finalizer is left. */
static int sync_owner(struct ctrl *c, const struct ctrl_obj *o)
{
    const struct ctrl_obj **deps;
    size_t nd = o->uid ? ctrl_dependents(c, o->uid, &deps) : 0;
    for (size_t i = 0; i < nd; i++) enqueue_obj(c, deps[i]);
    if (nd) {
        free(deps);
        return 0; /* the dependents' syncs wake us again */
    }
    json_t *fins = json_object_get(json_object_get(o->obj, "metadata"), "finalizers");
    json_t *keep = json_array();
    size_t i;
    json_t *f;
    if (!keep) return BE_NOMEM;
    json_array_foreach(fins, i, f) {
        const char *s = json_string_value(f);
        if (!s || (strcmp(s, FIN_ORPHAN) && strcmp(s, FIN_FOREGROUND))) json_array_append(keep, f);
    }
    if (!json_array_size(keep)) {
        json_decref(keep);
        log_info("ctrl", "gc: deleting %s %s/%s: its dependents are handled", o->resource, o->ns,
                 o->name);
        return ctrl_delete(c, o, NULL);
    }
    json_t *copy = json_deep_copy(o->obj);
    if (!copy) {
        json_decref(keep);
        return BE_NOMEM;
    }
    json_object_set_new(json_object_get(copy, "metadata"), "finalizers", keep);
    return ctrl_update(c, o, copy);
}

static int gc_sync(struct ctrl *c, const char *key)
{
    const char *slash = strchr(key, '/');
    char resource[64];
    if (!slash || (size_t)(slash - key) >= sizeof resource) return 0;
    memcpy(resource, key, (size_t)(slash - key));
    resource[slash - key] = 0;
    const struct ctrl_obj *o = ctrl_get_key(c, resource, slash + 1);
    if (!o) return 0;
    if (gc_finalizing(o->obj)) return sync_owner(c, o);
    if (o->nowners) return sync_dependent(c, o);
    return 0;
}

const struct ctrl_def ctrl_gc_def = {
    .name = "garbage-collector",
    .resources = gc_resources,
    .on_event = gc_on_event,
    .sync = gc_sync,
};
