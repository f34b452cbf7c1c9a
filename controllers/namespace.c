/* namespace.c: the namespace controller, which empties a deleted namespace.
 *
 * A DELETE of a namespace does not remove it at once (apiserver/objects.c):
 * as in Kubernetes it gets metadata.deletionTimestamp, status.phase
 * Terminating and the "kubernetes" finalizer in spec.finalizers, and the
 * API server refuses new objects in it. Keys are namespace names. A sync of
 * a terminating namespace walks every namespaced kind of the kind table and
 * deletes what the store holds in that namespace, a page at a time (most of
 * those kinds are not cached by any informer, so it reads the store, not the
 * caches). Owned objects go with their owners anyway; deleting everything
 * directly is what makes a namespace with thousands of ConfigMaps empty in
 * one pass. Pods deleted here are stopped by their agents as for any pod
 * delete. When a pass finds nothing left, the namespace object itself is
 * deleted (conditioned on its revision); until then the key is retried
 * every second, which also catches objects a controller created while the
 * namespace was being emptied. */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/kinds.h"
#include "common/log.h"
#include "controllers/ctrl_int.h"

#define NS_PAGE 512       /* deletes proposed per kind and pass */
#define NS_RETRY_MS 1000

static const char *const ns_resources[] = {"namespaces", NULL};

static void ns_on_event(struct ctrl *c, enum store_ev_type type, const struct ctrl_obj *old,
                        const struct ctrl_obj *obj)
{
    (void)old;
    if (type != STORE_EV_DELETED && ctrl_deleting(obj->obj))
        ctrl_enqueue(c, obj->name);
}

struct ns_page {
    struct ctrl *c;
    const char *resource;
    size_t n;
    int rc;
};

static int delete_one(void *data, const char *ns, const char *name, uint64_t rev,
                      const char *json, size_t len)
{
    (void)json;
    (void)len;
    struct ns_page *pg = data;
    int rc = ctrl_delete_rev(pg->c, pg->resource, ns, name, rev);
    if (rc) {
        pg->rc = rc;
        return 1;
    }
    pg->n++;
    return 0;
}

/* Deletes up to a page of each namespaced kind in ns. Returns how many
 * objects were found (0: the namespace is empty) or a BE_* code. */
static long empty_namespace(struct ctrl *c, const char *ns)
{
    store_t *store = c->mgr->store;
    long found = 0;
    if (!store)
        return 0; /* unit tests without a store */
    for (const struct kind_info *k = kind_table; k->resource; k++) {
        if (!k->namespaced)
            continue;
        struct ns_page pg = {.c = c, .resource = k->resource};
        struct store_list_opts lo = {.ns = ns, .limit = NS_PAGE};
        int rc = store_list(store, k->resource, &lo, delete_one, &pg, NULL);
        if (rc == 0)
            rc = pg.rc;
        if (rc)
            return rc;
        found += (long)pg.n;
    }
    return found;
}

static int ns_sync(struct ctrl *c, const char *key)
{
    const struct ctrl_obj *ns = ctrl_get(c, "namespaces", "", key);
    if (!ns || !ctrl_deleting(ns->obj))
        return 0;
    if (ctrl_busy(c, key))
        return 0; /* the last pass's deletes are not answered yet */
    long found = empty_namespace(c, key);
    if (found < 0)
        return (int)found;
    if (found > 0) {
        log_info("ctrl", "namespace %s: deleting %ld objects", key, found);
        ctrl_enqueue_after(c, key, NS_RETRY_MS);
        return 0;
    }
    log_info("ctrl", "namespace %s is empty: deleting it", key);
    return ctrl_delete(c, ns, NULL);
}

const struct ctrl_def ctrl_namespace_def = {
    .name = "namespace-controller",
    .resources = ns_resources,
    .on_event = ns_on_event,
    .sync = ns_sync,
};
