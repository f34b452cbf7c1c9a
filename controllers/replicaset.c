/* replicaset.c: the ReplicaSet controller.
 *
 * Keys are "ns/name" of ReplicaSets. Pod events map to the key of the pod's
 * controlling ReplicaSet (and observe that key's expectations: an ADDED pod
 * is one of our creates seen, a DELETED one a delete seen); an orphan pod
 * maps to every ReplicaSet of its namespace whose selector matches it.
 *
 * One sync: list the namespace's pods from the cache; pods controlled by
 * this ReplicaSet that no longer match the selector are released (their
 * ownerReference removed), active orphans that match are adopted (a
 * controller ownerReference added). Then, unless writes of an earlier sync
 * are still unobserved (expectations), the count of active pods (not
 * Succeeded/Failed, not being deleted) is brought toward spec.replicas:
 * creates in slow-start batches (1, 2, 4, ... per sync, reset to 1 when a
 * create fails, so a broken template costs one failed create, not
 * hundreds), deletes preferring unscheduled, then pending, then not-ready
 * pods, then pods on nodes crowded with this ReplicaSet's pods, then the
 * most recently ready and the newest. Last, the status (replicas,
 * fullyLabeledReplicas, readyReplicas, availableReplicas with
 * minReadySeconds, observedGeneration) is written if it changed. */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "common/selector.h"
#include "controllers/ctrl_int.h"

#define MAX_BURST 500

static const char *const rs_resources[] = {"replicasets", "pods", NULL};

/* The ReplicaSet controlling pod (by controller ref), if cached. */
static const struct ctrl_obj *rs_of(struct ctrl *c, const struct ctrl_obj *pod)
{
    const json_t *ref = ctrl_controller_ref(pod->obj);
    const char *kind = json_string_value(json_object_get(ref, "kind"));
    if (!kind || strcmp(kind, "ReplicaSet")) return NULL;
    const char *name = json_string_value(json_object_get(ref, "name"));
    const char *uid = json_string_value(json_object_get(ref, "uid"));
    const struct ctrl_obj *rs = name ? ctrl_get(c, "replicasets", pod->ns, name) : NULL;
    return rs && rs->uid && uid && !strcmp(rs->uid, uid) ? rs : NULL;
}

static bool rs_selects(const struct ctrl_obj *rs, const json_t *pod)
{
    struct selector sel;
    char err[256];
    if (selector_from_json(json_path(rs->obj, "spec.selector"), &sel, err, sizeof err)) return false;
    bool ok = !selector_empty(&sel) && selector_matches(&sel, json_path(pod, "metadata.labels"));
    selector_free(&sel);
    return ok;
}

static void enqueue_rs(struct ctrl *c, const struct ctrl_obj *rs)
{
    char key[512];
    ctrl_key(key, sizeof key, rs->ns, rs->name);
    ctrl_enqueue(c, key);
}

static void enqueue_matching(struct ctrl *c, const struct ctrl_obj *pod)
{
    const struct ctrl_obj **v;
    size_t n = ctrl_list(c, "replicasets", pod->ns, &v);
    for (size_t i = 0; i < n; i++)
        if (rs_selects(v[i], pod->obj)) enqueue_rs(c, v[i]);
    free(v);
}

static void rs_on_event(struct ctrl *c, enum store_ev_type type, const struct ctrl_obj *old,
                        const struct ctrl_obj *obj)
{
    char key[512];
    if (!strcmp(obj->resource, "replicasets")) {
        ctrl_key(key, sizeof key, obj->ns, obj->name);
        if (type == STORE_EV_DELETED) ctrl_expect_drop(c, key);
        else ctrl_enqueue(c, key);
        return;
    }
    const struct ctrl_obj *rs = rs_of(c, obj);
    if (rs) {
        ctrl_key(key, sizeof key, rs->ns, rs->name);
        if (type == STORE_EV_ADDED) ctrl_observed(c, key, 1, 0);
        if (type == STORE_EV_DELETED) ctrl_observed(c, key, 0, 1);
        ctrl_enqueue(c, key);
    } else if (type != STORE_EV_DELETED && !ctrl_controller_ref(obj->obj)) {
        enqueue_matching(c, obj);
    }
    const struct ctrl_obj *was = old ? rs_of(c, old) : NULL;
    if (was && was != rs) enqueue_rs(c, was);
}

/* ---- pods from the template ----------------------------------------------------- */

static json_t *pod_from_template(const struct ctrl_obj *rs)
{
    json_t *tmpl = json_path(rs->obj, "spec.template");
    json_t *spec = json_deep_copy(json_object_get(tmpl, "spec"));
    if (!json_is_object(spec)) {
        json_decref(spec);
        return NULL;
    }
    if (!json_object_get(spec, "restartPolicy"))
        json_object_set_new(spec, "restartPolicy", json_string("Always"));
    if (!json_object_get(spec, "terminationGracePeriodSeconds"))
        json_object_set_new(spec, "terminationGracePeriodSeconds", json_integer(30));
    char gen[80];
    snprintf(gen, sizeof gen, "%.57s-", rs->name);
    json_t *md = json_pack("{s:s, s:s, s:[o]}", "namespace", rs->ns, "generateName", gen,
                           "ownerReferences", ctrl_owner_ref("apps/v1", "ReplicaSet", rs));
    json_t *labels = json_path(tmpl, "metadata.labels");
    json_t *annots = json_path(tmpl, "metadata.annotations");
    if (md && labels) json_object_set(md, "labels", labels);
    if (md && annots) json_object_set(md, "annotations", annots);
    return json_pack("{s:o, s:s, s:s, s:o, s:{s:s}}", "metadata", md, "apiVersion", "v1", "kind",
                     "Pod", "spec", spec, "status", "phase", "Pending");
}

/* ---- deletion preference ------------------------------------------------------------ */

struct ranked {
    const struct ctrl_obj *pod;
    int assigned, phase, ready;
    size_t on_node;        /* pods of this ReplicaSet on the same node */
    const char *ready_at, *created;
};

static int phase_rank(const json_t *pod)
{
    const char *p = json_path_str(pod, "status.phase");
    if (!p || !strcmp(p, "Pending")) return 0;
    if (!strcmp(p, "Unknown")) return 1;
    return 2;
}

static int strcmp_null(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "");
}

/* Negative when a should be deleted before b. */
static int delete_order(const void *pa, const void *pb)
{
    const struct ranked *a = pa, *b = pb;
    if (a->assigned != b->assigned) return a->assigned - b->assigned;
    if (a->phase != b->phase) return a->phase - b->phase;
    if (a->ready != b->ready) return a->ready - b->ready;
    if (a->on_node != b->on_node) return a->on_node > b->on_node ? -1 : 1;
    int r = strcmp_null(b->ready_at, a->ready_at); /* ready more recently first */
    if (!r) r = strcmp_null(b->created, a->created); /* newer first */
    return r ? r : strcmp(a->pod->name, b->pod->name);
}

static struct ranked *rank_pods(const struct ctrl_obj **pods, size_t n)
{
    struct ranked *v = calloc(n ? n : 1, sizeof *v);
    if (!v) return NULL;
    for (size_t i = 0; i < n; i++) {
        const json_t *p = pods[i]->obj;
        const char *node = json_path_str(p, "spec.nodeName");
        v[i].pod = pods[i];
        v[i].assigned = node && node[0];
        v[i].phase = phase_rank(p);
        v[i].ready = ctrl_pod_ready(p);
        v[i].ready_at = json_string_value(json_object_get(ctrl_condition(p, "Ready"), "lastTransitionTime"));
        v[i].created = json_path_str(p, "metadata.creationTimestamp");
        for (size_t j = 0; j < n && v[i].assigned; j++) {
            const char *other = json_path_str(pods[j]->obj, "spec.nodeName");
            if (other && !strcmp(other, node)) v[i].on_node++;
        }
    }
    qsort(v, n, sizeof *v, delete_order);
    return v;
}

/* ---- sync ----------------------------------------------------------------------------- */

/* Returns a copy of pod with ownerReferences to uid removed (release) or with
 * ref appended (adopt, ref stolen). */
static json_t *with_owner(const json_t *pod, const char *drop_uid, json_t *add)
{
    json_t *copy = json_deep_copy(pod);
    json_t *md = json_object_get(copy, "metadata");
    json_t *refs = json_object_get(md, "ownerReferences"), *nrefs = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(refs, i, r) {
        const char *u = json_string_value(json_object_get(r, "uid"));
        if (!drop_uid || !u || strcmp(u, drop_uid)) json_array_append(nrefs, r);
    }
    if (add) json_array_append_new(nrefs, add);
    if (json_array_size(nrefs)) json_object_set_new(md, "ownerReferences", nrefs);
    else {
        json_decref(nrefs);
        json_object_del(md, "ownerReferences");
    }
    return copy;
}

/* Adopts and releases; fills owned (active and inactive pods we control). */
static size_t claim_pods(struct ctrl *c, const struct ctrl_obj *rs, const struct ctrl_obj **pods,
                         size_t n, const struct ctrl_obj **owned)
{
    size_t k = 0;
    bool rs_deleting = ctrl_deleting(rs->obj);
    for (size_t i = 0; i < n; i++) {
        const struct ctrl_obj *p = pods[i];
        const json_t *ref = ctrl_controller_ref(p->obj);
        const char *uid = json_string_value(json_object_get(ref, "uid"));
        bool match = rs_selects(rs, p->obj);
        if (ref && uid && rs->uid && !strcmp(uid, rs->uid)) {
            if (match) owned[k++] = p;
            else if (!rs_deleting && !ctrl_deleting(p->obj))
                ctrl_update(c, p, with_owner(p->obj, rs->uid, NULL));
        } else if (!ref && match && !rs_deleting && ctrl_pod_active(p->obj)) {
            json_t *add = ctrl_owner_ref("apps/v1", "ReplicaSet", rs);
            if (ctrl_update(c, p, with_owner(p->obj, NULL, add)) == 0) owned[k++] = p;
        }
    }
    return k;
}

static int manage(struct ctrl *c, const char *key, const struct ctrl_obj *rs,
                  const struct ctrl_obj **active, size_t nactive)
{
    int64_t want = ctrl_int(rs->obj, "spec.replicas", 1);
    int64_t diff = (int64_t)nactive - want;
    if (diff < 0) {
        int64_t n = -diff;
        int batch = ctrl_batch_size(c, key);
        if (n > batch) n = batch;
        if (n > MAX_BURST) n = MAX_BURST;
        ctrl_expect(c, key, (int)n, 0);
        ctrl_batch_used(c, key, (int)n);
        for (int64_t i = 0; i < n; i++) {
            json_t *pod = pod_from_template(rs);
            char name[320];
            if (!pod) {
                ctrl_observed(c, key, (int)(n - i), 0);
                ctrl_event(c, rs, "Warning", "FailedCreate", "Error creating: the pod template has no spec");
                return 0;
            }
            int rc = ctrl_create(c, "pods", pod, key, name, sizeof name);
            if (rc) {
                ctrl_observed(c, key, (int)(n - i), 0);
                return rc;
            }
            ctrl_event(c, rs, "Normal", "SuccessfulCreate", "Created pod: %s", name);
        }
    } else if (diff > 0) {
        int64_t n = diff > MAX_BURST ? MAX_BURST : diff;
        struct ranked *order = rank_pods(active, nactive);
        if (!order) return BE_NOMEM;
        ctrl_expect(c, key, 0, (int)n);
        for (int64_t i = 0; i < n; i++) {
            if (ctrl_delete(c, order[i].pod, key)) ctrl_observed(c, key, 0, 1);
            else ctrl_event(c, rs, "Normal", "SuccessfulDelete", "Deleted pod: %s", order[i].pod->name);
        }
        free(order);
    }
    return 0;
}

static bool fully_labeled(const json_t *pod, const json_t *tmpl_labels)
{
    json_t *labels = json_path(pod, "metadata.labels");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)tmpl_labels, k, v)
        if (!json_equal(json_object_get(labels, k), v)) return false;
    return true;
}

static int update_status(struct ctrl *c, const char *key, const struct ctrl_obj *rs,
                         const struct ctrl_obj **active, size_t nactive)
{
    int64_t min_ready = ctrl_int(rs->obj, "spec.minReadySeconds", 0), now = ctrl_now_ms(c);
    int64_t ready = 0, avail = 0, labeled = 0, next_wait = 0;
    const json_t *tl = json_path(rs->obj, "spec.template.metadata.labels");
    for (size_t i = 0; i < nactive; i++) {
        int64_t wait;
        if (fully_labeled(active[i]->obj, tl)) labeled++;
        if (ctrl_pod_ready(active[i]->obj)) ready++;
        if (ctrl_pod_available(active[i]->obj, min_ready, now, &wait)) avail++;
        else if (wait && (!next_wait || wait < next_wait)) next_wait = wait;
    }
    if (next_wait) ctrl_enqueue_after(c, key, next_wait + 10);
    json_t *copy = json_deep_copy(rs->obj);
    if (!copy) return BE_NOMEM;
    json_t *st = json_object_get(copy, "status");
    if (!json_is_object(st)) json_object_set_new(copy, "status", st = json_object());
    json_object_set_new(st, "replicas", json_integer((json_int_t)nactive));
    json_object_set_new(st, "fullyLabeledReplicas", json_integer(labeled));
    json_object_set_new(st, "readyReplicas", json_integer(ready));
    json_object_set_new(st, "availableReplicas", json_integer(avail));
    json_object_set_new(st, "observedGeneration", json_integer(ctrl_int(rs->obj, "metadata.generation", 1)));
    if (json_equal(st, json_object_get(rs->obj, "status"))) {
        json_decref(copy);
        return 0;
    }
    return ctrl_update(c, rs, copy);
}

static int rs_sync(struct ctrl *c, const char *key)
{
    const struct ctrl_obj *rs = ctrl_get_key(c, "replicasets", key);
    if (!rs) {
        ctrl_expect_drop(c, key);
        return 0;
    }
    const struct ctrl_obj **pods, **owned, **active;
    size_t n = ctrl_list(c, "pods", rs->ns, &pods);
    owned = calloc(n ? n : 1, sizeof *owned);
    active = calloc(n ? n : 1, sizeof *active);
    int rc = BE_NOMEM;
    if (!owned || !active) goto out;
    size_t nowned = claim_pods(c, rs, pods, n, owned), nactive = 0;
    for (size_t i = 0; i < nowned; i++)
        if (ctrl_pod_active(owned[i]->obj)) active[nactive++] = owned[i];
    rc = 0;
    if (!ctrl_deleting(rs->obj) && ctrl_satisfied(c, key)) rc = manage(c, key, rs, active, nactive);
    if (!rc) rc = update_status(c, key, rs, active, nactive);
out:
    free(pods);
    free(owned);
    free(active);
    return rc;
}

const struct ctrl_def ctrl_replicaset_def = {
    .name = "replicaset-controller",
    .resources = rs_resources,
    .on_event = rs_on_event,
    .sync = rs_sync,
};
