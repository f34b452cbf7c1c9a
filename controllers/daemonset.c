/* daemonset.c: the DaemonSet controller (apps/v1).
 *
 * Keys are "ns/name" of DaemonSets. Pod events map to the controlling
 * DaemonSet (observing its expectations); a node that appears, goes, or
 * changes labels or spec (taints) enqueues every DaemonSet.
 *
 * One sync: the DaemonSet's pods are grouped by spec.nodeName. For each
 * cached node, daemonset_nodes.c says whether a daemon pod should be
 * scheduled there, or may stay; a node "needs" a pod if it should be
 * scheduled, or may stay and has one. Then, unless earlier writes are
 * unobserved: a needing node without an active pod gets one (slow-start
 * batches; created already bound with spec.nodeName, so the scheduler
 * leaves it alone); surplus pods on a node, pods on nodes that do not need
 * them or that are gone, and failed or succeeded pods are deleted.
 * RollingUpdate: the template hash (controller-revision-hash label, the
 * same FNV-1a hash as Deployments' pod-template-hash; no ControllerRevision
 * objects) marks updated pods; old pods that are not available are deleted
 * at once, available ones only while fewer than maxUnavailable (number or
 * percent of the needing nodes, rounded up, default 1) needing nodes lack
 * an available pod; each deleted pod comes back updated in a later sync.
 * OnDelete: only pods the user deletes come back updated. (maxSurge is not
 * supported.) Last, the status counts. */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "controllers/ctrl_int.h"

#define HASH_LABEL "controller-revision-hash"

static const char *const ds_resources[] = {"daemonsets", "pods", "nodes", NULL};

struct dnode {
    const struct ctrl_obj *node;
    bool need;
    const struct ctrl_obj *pods[4];   /* its first active daemon pods */
    size_t npods;
};

struct dsync {
    struct ctrl *c;
    const char *key;
    const struct ctrl_obj *ds;
    char hash[16];
    int64_t min_ready, now;
    struct dnode *nodes;
    size_t nnodes;
    const struct ctrl_obj **dead;     /* pods to delete whatever happens */
    size_t ndead;
    int64_t deletes, creates;
};

static const struct ctrl_obj *ds_of(struct ctrl *c, const struct ctrl_obj *pod)
{
    const json_t *ref = ctrl_controller_ref(pod->obj);
    const char *kind = json_string_value(json_object_get(ref, "kind"));
    const char *name = json_string_value(json_object_get(ref, "name"));
    const char *uid = json_string_value(json_object_get(ref, "uid"));
    if (!kind || strcmp(kind, "DaemonSet") || !name || !uid) return NULL;
    const struct ctrl_obj *ds = ctrl_get(c, "daemonsets", pod->ns, name);
    return ds && ds->uid && !strcmp(ds->uid, uid) ? ds : NULL;
}

static void enqueue_all(struct ctrl *c)
{
    const struct ctrl_obj **v;
    size_t n = ctrl_list(c, "daemonsets", NULL, &v);
    char key[512];
    for (size_t i = 0; i < n; i++) {
        ctrl_key(key, sizeof key, v[i]->ns, v[i]->name);
        ctrl_enqueue(c, key);
    }
    free(v);
}

static void ds_on_event(struct ctrl *c, enum store_ev_type type, const struct ctrl_obj *old,
                        const struct ctrl_obj *obj)
{
    char key[512];
    if (!strcmp(obj->resource, "nodes")) {
        if (type != STORE_EV_MODIFIED || !old ||
            !json_same(json_path(old->obj, "metadata.labels"), json_path(obj->obj, "metadata.labels")) ||
            !json_same(json_object_get(old->obj, "spec"), json_object_get(obj->obj, "spec")))
            enqueue_all(c);
        return;
    }
    if (!strcmp(obj->resource, "daemonsets")) {
        ctrl_key(key, sizeof key, obj->ns, obj->name);
        if (type == STORE_EV_DELETED) ctrl_expect_drop(c, key);
        else ctrl_enqueue(c, key);
        return;
    }
    const struct ctrl_obj *ds = ds_of(c, obj);
    if (!ds) return;
    ctrl_key(key, sizeof key, ds->ns, ds->name);
    if (type == STORE_EV_ADDED) ctrl_observed(c, key, 1, 0);
    if (type == STORE_EV_DELETED) ctrl_observed(c, key, 0, 1);
    ctrl_enqueue(c, key);
}

/* ---- observing ------------------------------------------------------------- */

static struct dnode *find_node(struct dsync *s, const char *name)
{
    for (size_t i = 0; name && i < s->nnodes; i++)
        if (!strcmp(s->nodes[i].node->name, name)) return &s->nodes[i];
    return NULL;
}

static int observe(struct dsync *s)
{
    const struct ctrl_obj **nodes, **deps;
    s->nnodes = ctrl_list(s->c, "nodes", "", &nodes);
    size_t n = ctrl_dependents(s->c, s->ds->uid, &deps);
    s->nodes = calloc(s->nnodes ? s->nnodes : 1, sizeof *s->nodes);
    s->dead = calloc(n ? n : 1, sizeof *s->dead);
    if (!s->nodes || !s->dead) {
        free(nodes);
        free(deps);
        return BE_NOMEM;
    }
    for (size_t i = 0; i < s->nnodes; i++) s->nodes[i].node = nodes[i];
    for (size_t i = 0; i < n; i++) {
        const struct ctrl_obj *p = deps[i];
        if (strcmp(p->resource, "pods") || ds_of(s->c, p) != s->ds || ctrl_deleting(p->obj)) continue;
        struct dnode *dn = find_node(s, json_path_str(p->obj, "spec.nodeName"));
        if (!dn || !ctrl_pod_active(p->obj) || dn->npods == 4) s->dead[s->ndead++] = p;
        else dn->pods[dn->npods++] = p;
    }
    for (size_t i = 0; i < s->nnodes; i++) {
        struct dnode *dn = &s->nodes[i];
        bool sched, keep;
        ds_node_eligible(s->ds->obj, dn->node->obj, &sched, &keep);
        dn->need = sched || (keep && dn->npods);
    }
    free(nodes);
    free(deps);
    return 0;
}

static bool updated(const struct dsync *s, const struct ctrl_obj *pod)
{
    const char *h = json_path_str(pod->obj, "metadata.labels." HASH_LABEL);
    return h && !strcmp(h, s->hash);
}

static bool available(const struct dsync *s, const struct ctrl_obj *pod)
{
    int64_t wait;
    bool ok = ctrl_pod_available(pod->obj, s->min_ready, s->now, &wait);
    if (!ok && wait) ctrl_enqueue_after(s->c, s->key, wait + 10);
    return ok;
}

/* ---- acting --------------------------------------------------------------------- */

static json_t *pod_for(const struct dsync *s, const char *node)
{
    const struct ctrl_obj *ds = s->ds;
    json_t *tmpl = json_path(ds->obj, "spec.template");
    json_t *spec = json_deep_copy(json_object_get(tmpl, "spec"));
    if (!json_is_object(spec)) {
        json_decref(spec);
        return NULL;
    }
    if (!json_object_get(spec, "restartPolicy")) json_object_set_new(spec, "restartPolicy", json_string("Always"));
    if (!json_object_get(spec, "terminationGracePeriodSeconds"))
        json_object_set_new(spec, "terminationGracePeriodSeconds", json_integer(30));
    json_object_set_new(spec, "nodeName", json_string(node));
    ds_add_tolerations(spec);
    json_t *labels = json_deep_copy(json_path(tmpl, "metadata.labels"));
    if (!json_is_object(labels)) {
        json_decref(labels);
        labels = json_object();
    }
    json_object_set_new(labels, HASH_LABEL, json_string(s->hash));
    char gen[80];
    snprintf(gen, sizeof gen, "%.57s-", ds->name);
    json_t *md = json_pack("{s:s, s:s, s:o, s:[o]}", "namespace", ds->ns, "generateName", gen,
                           "labels", labels, "ownerReferences", ctrl_owner_ref("apps/v1", "DaemonSet", ds));
    json_t *annots = json_path(tmpl, "metadata.annotations");
    if (md && annots) json_object_set(md, "annotations", annots);
    return json_pack("{s:o, s:s, s:s, s:o, s:{s:s}}", "metadata", md, "apiVersion", "v1", "kind",
                     "Pod", "spec", spec, "status", "phase", "Pending");
}

static void del(struct dsync *s, const struct ctrl_obj *pod)
{
    ctrl_expect(s->c, s->key, 0, 1);
    if (ctrl_delete(s->c, pod, s->key)) {
        ctrl_observed(s->c, s->key, 0, 1);
        return;
    }
    ctrl_event(s->c, s->ds, "Normal", "SuccessfulDelete", "Deleted pod: %s", pod->name);
    s->deletes++;
}

static int create(struct dsync *s, const struct dnode *dn)
{
    json_t *pod = pod_for(s, dn->node->name);
    char name[320];
    if (!pod) {
        ctrl_event(s->c, s->ds, "Warning", "FailedCreate", "Error creating: the pod template has no spec");
        return BE_INVALID;
    }
    ctrl_expect(s->c, s->key, 1, 0);
    int rc = ctrl_create(s->c, "pods", pod, s->key, name, sizeof name);
    if (rc) {
        ctrl_observed(s->c, s->key, 1, 0);
        return rc;
    }
    ctrl_event(s->c, s->ds, "Normal", "SuccessfulCreate", "Created pod: %s on node %s", name, dn->node->name);
    s->creates++;
    return 0;
}

/* Creates and deletes toward one pod per needing node. */
static int manage(struct dsync *s)
{
    for (size_t i = 0; i < s->ndead; i++) del(s, s->dead[i]);
    int batch = ctrl_batch_size(s->c, s->key);
    for (size_t i = 0; i < s->nnodes; i++) {
        struct dnode *dn = &s->nodes[i];
        size_t keep = dn->need ? 1 : 0;
        if (dn->npods > keep) {
            /* keep an updated, then an available one */
            size_t best = 0;
            for (size_t k = 1; k < dn->npods; k++) {
                int sb = updated(s, dn->pods[best]) * 2 + ctrl_pod_ready(dn->pods[best]->obj);
                int sk = updated(s, dn->pods[k]) * 2 + ctrl_pod_ready(dn->pods[k]->obj);
                if (sk > sb) best = k;
            }
            for (size_t k = 0; k < dn->npods; k++)
                if (!keep || k != best) del(s, dn->pods[k]);
        } else if (keep && !dn->npods && s->creates < batch) {
            int rc = create(s, dn);
            if (rc == BE_INVALID) return 0;
            if (rc) return rc;
        }
    }
    if (s->creates) ctrl_batch_used(s->c, s->key, (int)s->creates);
    return 0;
}

static int rolling_update(struct dsync *s)
{
    const char *type = json_path_str(s->ds->obj, "spec.updateStrategy.type");
    if (type && !strcmp(type, "OnDelete")) return 0;
    int64_t desired = 0, unavailable = 0, max_unavail;
    for (size_t i = 0; i < s->nnodes; i++) {
        struct dnode *dn = &s->nodes[i];
        if (!dn->need) continue;
        desired++;
        if (dn->npods != 1 || !available(s, dn->pods[0])) unavailable++;
    }
    json_t *mu = json_path(s->ds->obj, "spec.updateStrategy.rollingUpdate");
    mu = mu ? json_object_get(mu, "maxUnavailable") : NULL;
    if (ctrl_int_or_percent(mu, desired, true, 1, &max_unavail)) {
        ctrl_event(s->c, s->ds, "Warning", "InvalidUpdateStrategy", "invalid maxUnavailable");
        return 0;
    }
    if (max_unavail < 1) max_unavail = 1;
    for (size_t i = 0; i < s->nnodes; i++) { /* old and unavailable: free to go */
        struct dnode *dn = &s->nodes[i];
        if (dn->need && dn->npods == 1 && !updated(s, dn->pods[0]) && !available(s, dn->pods[0]))
            del(s, dn->pods[0]);
    }
    for (size_t i = 0; i < s->nnodes && unavailable < max_unavail; i++) {
        struct dnode *dn = &s->nodes[i];
        if (dn->need && dn->npods == 1 && !updated(s, dn->pods[0]) && available(s, dn->pods[0])) {
            del(s, dn->pods[0]);
            unavailable++;
        }
    }
    return 0;
}

static int update_status(struct dsync *s)
{
    int64_t desired = 0, current = 0, ready = 0, upd = 0, avail = 0, missched = 0;
    for (size_t i = 0; i < s->nnodes; i++) {
        struct dnode *dn = &s->nodes[i];
        if (!dn->need) {
            missched += dn->npods > 0;
            continue;
        }
        desired++;
        if (!dn->npods) continue;
        current++;
        const struct ctrl_obj *p = dn->pods[0];
        ready += ctrl_pod_ready(p->obj);
        upd += updated(s, p);
        avail += available(s, p);
    }
    json_t *copy = json_deep_copy(s->ds->obj);
    if (!copy) return BE_NOMEM;
    json_t *st = json_object_get(copy, "status");
    if (!json_is_object(st)) json_object_set_new(copy, "status", st = json_object());
    json_object_set_new(st, "desiredNumberScheduled", json_integer(desired));
    json_object_set_new(st, "currentNumberScheduled", json_integer(current));
    json_object_set_new(st, "numberMisscheduled", json_integer(missched));
    json_object_set_new(st, "numberReady", json_integer(ready));
    json_object_set_new(st, "updatedNumberScheduled", json_integer(upd));
    json_object_set_new(st, "numberAvailable", json_integer(avail));
    json_object_set_new(st, "numberUnavailable", json_integer(desired - avail));
    json_object_set_new(st, "observedGeneration", json_integer(ctrl_int(s->ds->obj, "metadata.generation", 1)));
    if (json_equal(copy, s->ds->obj)) {
        json_decref(copy);
        return 0;
    }
    return ctrl_update(s->c, s->ds, copy);
}

static int ds_sync(struct ctrl *c, const char *key)
{
    const struct ctrl_obj *ds = ctrl_get_key(c, "daemonsets", key);
    if (!ds) {
        ctrl_expect_drop(c, key);
        return 0;
    }
    if (ctrl_deleting(ds->obj) || !ds->uid) return 0;
    struct dsync s = {.c = c, .key = key, .ds = ds, .now = ctrl_now_ms(c),
                      .min_ready = ctrl_int(ds->obj, "spec.minReadySeconds", 0)};
    deploy_template_hash(json_path(ds->obj, "spec.template"), 0, s.hash);
    int rc = observe(&s);
    if (!rc && ctrl_satisfied(c, key)) {
        rc = manage(&s);
        if (!rc && !s.creates && !s.deletes) rc = rolling_update(&s);
    }
    if (!rc) rc = update_status(&s);
    free(s.nodes);
    free(s.dead);
    return rc;
}

const struct ctrl_def ctrl_daemonset_def = {
    .name = "daemonset-controller",
    .resources = ds_resources,
    .on_event = ds_on_event,
    .sync = ds_sync,
};
