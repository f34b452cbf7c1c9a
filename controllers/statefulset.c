/* statefulset.c: the StatefulSet controller (apps/v1).
 *
 * Keys are "ns/name" of StatefulSets; pod events map to the controlling
 * StatefulSet. Pods have stable names "<set>-<ordinal>" and carry the
 * labels statefulset.kubernetes.io/pod-name, apps.kubernetes.io/pod-index
 * and controller-revision-hash, plus hostname/subdomain (serviceName).
 *
 * Revisions are kept as a hash only (no ControllerRevision objects):
 * updateRevision is "<set>-<hash of spec.template>" (the FNV-1a hash of
 * Deployments); currentRevision is the one recorded in status until every
 * pod runs the update revision. A consequence: a missing pod is always
 * created from the current spec.template, even below the partition (we do
 * not keep old templates to recreate it from).
 *
 * One sync, as Kubernetes' OrderedReady / Parallel pod management:
 *  - failed pods are deleted (and come back in a later sync);
 *  - ordinals 0..replicas-1 missing are created: OrderedReady creates the
 *    lowest missing one only when all lower ones are Running and Ready,
 *    one per sync; Parallel creates them all;
 *  - ordinals >= replicas are condemned: OrderedReady deletes the highest
 *    one, one at a time, and only when all others are Running and Ready
 *    (and nothing is terminating); Parallel deletes them all;
 *  - RollingUpdate (once all replicas exist, Running and Ready): the
 *    highest ordinal >= partition not at updateRevision is deleted, one at
 *    a time, each recreated pod becoming Ready before the next; OnDelete
 *    leaves pods alone.
 * Names are deterministic and writes conditional, and a key is not synced
 * while its writes are in flight, so no expectations are needed. */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "controllers/ctrl_int.h"

#define HASH_LABEL "controller-revision-hash"
#define POD_NAME_LABEL "statefulset.kubernetes.io/pod-name"
#define POD_INDEX_LABEL "apps.kubernetes.io/pod-index"

static const char *const sts_resources[] = {"statefulsets", "pods", NULL};

struct ssync {
    struct ctrl *c;
    const struct ctrl_obj *sts;
    int64_t replicas, nslots;
    const struct ctrl_obj **slot;   /* by ordinal (up to nslots) */
    char update_rev[320], current_rev[320];
    bool parallel;
    int acted;
};

static const struct ctrl_obj *sts_of(struct ctrl *c, const struct ctrl_obj *pod)
{
    const json_t *ref = ctrl_controller_ref(pod->obj);
    const char *kind = json_string_value(json_object_get(ref, "kind"));
    const char *name = json_string_value(json_object_get(ref, "name"));
    const char *uid = json_string_value(json_object_get(ref, "uid"));
    if (!kind || strcmp(kind, "StatefulSet") || !name || !uid) return NULL;
    const struct ctrl_obj *s = ctrl_get(c, "statefulsets", pod->ns, name);
    return s && s->uid && !strcmp(s->uid, uid) ? s : NULL;
}

static void sts_on_event(struct ctrl *c, enum store_ev_type type, const struct ctrl_obj *old,
                         const struct ctrl_obj *obj)
{
    char key[512];
    const struct ctrl_obj *s = strcmp(obj->resource, "statefulsets") ? sts_of(c, obj) : obj;
    if (!s || (s == obj && type == STORE_EV_DELETED)) return;
    ctrl_key(key, sizeof key, s->ns, s->name);
    ctrl_enqueue(c, key);
}

/* The ordinal of a pod named "<set>-<n>", or -1. */
static int64_t ordinal(const char *set, const char *pod)
{
    size_t n = strlen(set);
    if (strncmp(pod, set, n) || pod[n] != '-' || !pod[n + 1]) return -1;
    char *end;
    long long v = strtoll(pod + n + 1, &end, 10);
    return *end || v < 0 || (v > 0 && pod[n + 1] == '0') ? -1 : v;
}

static bool running_ready(const json_t *pod)
{
    const char *ph = json_path_str(pod, "status.phase");
    return ph && !strcmp(ph, "Running") && ctrl_pod_ready(pod) && !ctrl_deleting(pod);
}

static const char *revision(const json_t *pod)
{
    return json_path_str(pod, "metadata.labels." HASH_LABEL);
}

/* ---- observing ------------------------------------------------------------- */

static int observe(struct ssync *s)
{
    const struct ctrl_obj **deps;
    size_t n = ctrl_dependents(s->c, s->sts->uid, &deps);
    s->nslots = s->replicas;
    for (size_t i = 0; i < n; i++) {
        int64_t o = ordinal(s->sts->name, deps[i]->name);
        if (!strcmp(deps[i]->resource, "pods") && o >= s->nslots && o < 100000) s->nslots = o + 1;
    }
    s->slot = calloc(s->nslots ? (size_t)s->nslots : 1, sizeof *s->slot);
    if (!s->slot) {
        free(deps);
        return BE_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const struct ctrl_obj *p = deps[i];
        int64_t o = ordinal(s->sts->name, p->name);
        if (strcmp(p->resource, "pods") || o < 0 || o >= s->nslots || sts_of(s->c, p) != s->sts) continue;
        s->slot[o] = p;
    }
    free(deps);
    return 0;
}

/* ---- acting ------------------------------------------------------------------- */

static json_t *pod_for(const struct ssync *s, int64_t ord)
{
    const struct ctrl_obj *sts = s->sts;
    json_t *tmpl = json_path(sts->obj, "spec.template");
    json_t *spec = json_deep_copy(json_object_get(tmpl, "spec"));
    if (!json_is_object(spec)) {
        json_decref(spec);
        return NULL;
    }
    char name[320], idx[24];
    snprintf(name, sizeof name, "%s-%lld", sts->name, (long long)ord);
    snprintf(idx, sizeof idx, "%lld", (long long)ord);
    if (!json_object_get(spec, "restartPolicy")) json_object_set_new(spec, "restartPolicy", json_string("Always"));
    if (!json_object_get(spec, "terminationGracePeriodSeconds"))
        json_object_set_new(spec, "terminationGracePeriodSeconds", json_integer(30));
    json_object_set_new(spec, "hostname", json_string(name));
    const char *svc = json_path_str(sts->obj, "spec.serviceName");
    if (svc && svc[0]) json_object_set_new(spec, "subdomain", json_string(svc));
    json_t *labels = json_deep_copy(json_path(tmpl, "metadata.labels"));
    if (!json_is_object(labels)) {
        json_decref(labels);
        labels = json_object();
    }
    json_object_set_new(labels, POD_NAME_LABEL, json_string(name));
    json_object_set_new(labels, POD_INDEX_LABEL, json_string(idx));
    json_object_set_new(labels, HASH_LABEL, json_string(s->update_rev));
    json_t *md = json_pack("{s:s, s:s, s:o, s:[o]}", "name", name, "namespace", sts->ns, "labels",
                           labels, "ownerReferences", ctrl_owner_ref("apps/v1", "StatefulSet", sts));
    json_t *annots = json_path(tmpl, "metadata.annotations");
    if (md && annots) json_object_set(md, "annotations", annots);
    return json_pack("{s:o, s:s, s:s, s:o, s:{s:s}}", "metadata", md, "apiVersion", "v1", "kind",
                     "Pod", "spec", spec, "status", "phase", "Pending");
}

static int create(struct ssync *s, int64_t ord)
{
    json_t *pod = pod_for(s, ord);
    char name[320];
    if (!pod) {
        ctrl_event(s->c, s->sts, "Warning", "FailedCreate", "create Pod failed: the pod template has no spec");
        return 0;
    }
    int rc = ctrl_create(s->c, "pods", pod, NULL, name, sizeof name);
    if (!rc) ctrl_event(s->c, s->sts, "Normal", "SuccessfulCreate", "create Pod %s in StatefulSet %s successful", name, s->sts->name);
    s->acted++;
    return rc;
}

static void del(struct ssync *s, const struct ctrl_obj *pod)
{
    if (!ctrl_delete(s->c, pod, NULL))
        ctrl_event(s->c, s->sts, "Normal", "SuccessfulDelete", "delete Pod %s in StatefulSet %s successful", pod->name, s->sts->name);
    s->acted++;
}

/* Creates missing and deletes failed pods of ordinals < replicas. */
static int scale_up(struct ssync *s)
{
    for (int64_t i = 0; i < s->replicas; i++) {
        const struct ctrl_obj *p = s->slot[i];
        if (p && !ctrl_pod_active(p->obj) && !ctrl_deleting(p->obj)) {
            del(s, p); /* failed (or succeeded): recreated once it is gone */
            if (!s->parallel) return 0;
            continue;
        }
        if (!p) {
            int rc = create(s, i);
            if (rc || !s->parallel) return rc;
            continue;
        }
        if (!s->parallel && !running_ready(p->obj)) return 0; /* wait for it */
    }
    return 0;
}

static void scale_down(struct ssync *s)
{
    for (int64_t i = s->nslots - 1; i >= s->replicas; i--) {
        const struct ctrl_obj *p = s->slot[i];
        if (!p) continue;
        if (ctrl_deleting(p->obj)) {
            if (!s->parallel) return; /* one at a time */
            continue;
        }
        del(s, p);
        if (!s->parallel) return;
    }
}

static bool all_running_ready(const struct ssync *s, int64_t upto)
{
    for (int64_t i = 0; i < upto; i++)
        if (!s->slot[i] || !running_ready(s->slot[i]->obj)) return false;
    return true;
}

static void rolling_update(struct ssync *s)
{
    const char *type = json_path_str(s->sts->obj, "spec.updateStrategy.type");
    if (type && !strcmp(type, "OnDelete")) return;
    int64_t part = ctrl_int(s->sts->obj, "spec.updateStrategy.rollingUpdate.partition", 0);
    if (!all_running_ready(s, s->replicas)) return;
    for (int64_t i = s->replicas - 1; i >= part && i >= 0; i--) {
        const char *rev = revision(s->slot[i]->obj);
        if (!rev || strcmp(rev, s->update_rev)) {
            del(s, s->slot[i]);
            return;
        }
    }
}

/* ---- status -------------------------------------------------------------------- */

static int update_status(struct ssync *s)
{
    int64_t replicas = 0, ready = 0, avail = 0, cur = 0, upd = 0, wait;
    int64_t min_ready = ctrl_int(s->sts->obj, "spec.minReadySeconds", 0), now = ctrl_now_ms(s->c);
    char key[512];
    ctrl_key(key, sizeof key, s->sts->ns, s->sts->name);
    for (int64_t i = 0; i < s->nslots; i++) {
        const struct ctrl_obj *p = s->slot[i];
        if (!p || !ctrl_pod_active(p->obj)) continue;
        const char *rev = revision(p->obj);
        replicas++;
        ready += ctrl_pod_ready(p->obj);
        if (ctrl_pod_available(p->obj, min_ready, now, &wait)) avail++;
        else if (wait) ctrl_enqueue_after(s->c, key, wait + 10);
        cur += rev && !strcmp(rev, s->current_rev);
        upd += rev && !strcmp(rev, s->update_rev);
    }
    if (upd == s->replicas && replicas == s->replicas) { /* the rollout is complete */
        snprintf(s->current_rev, sizeof s->current_rev, "%s", s->update_rev);
        cur = upd;
    }
    json_t *copy = json_deep_copy(s->sts->obj);
    if (!copy) return BE_NOMEM;
    json_t *st = json_object_get(copy, "status");
    if (!json_is_object(st)) json_object_set_new(copy, "status", st = json_object());
    json_object_set_new(st, "replicas", json_integer(replicas));
    json_object_set_new(st, "readyReplicas", json_integer(ready));
    json_object_set_new(st, "availableReplicas", json_integer(avail));
    json_object_set_new(st, "currentReplicas", json_integer(cur));
    json_object_set_new(st, "updatedReplicas", json_integer(upd));
    json_object_set_new(st, "currentRevision", json_string(s->current_rev));
    json_object_set_new(st, "updateRevision", json_string(s->update_rev));
    json_object_set_new(st, "collisionCount", json_integer(0));
    json_object_set_new(st, "observedGeneration", json_integer(ctrl_int(s->sts->obj, "metadata.generation", 1)));
    if (json_equal(copy, s->sts->obj)) {
        json_decref(copy);
        return 0;
    }
    return ctrl_update(s->c, s->sts, copy);
}

static int sts_sync(struct ctrl *c, const char *key)
{
    const struct ctrl_obj *sts = ctrl_get_key(c, "statefulsets", key);
    if (!sts || ctrl_deleting(sts->obj) || !sts->uid) return 0;
    const char *pmp = json_path_str(sts->obj, "spec.podManagementPolicy");
    struct ssync s = {.c = c, .sts = sts, .replicas = ctrl_int(sts->obj, "spec.replicas", 1),
                      .parallel = pmp && !strcmp(pmp, "Parallel")};
    if (s.replicas < 0) s.replicas = 0;
    char hash[16];
    deploy_template_hash(json_path(sts->obj, "spec.template"), 0, hash);
    snprintf(s.update_rev, sizeof s.update_rev, "%.240s-%s", sts->name, hash);
    const char *cr = json_path_str(sts->obj, "status.currentRevision");
    snprintf(s.current_rev, sizeof s.current_rev, "%s", cr ? cr : s.update_rev);
    int rc = observe(&s);
    if (rc) return rc;
    rc = scale_up(&s);
    if (!rc && (!s.acted || s.parallel) && (s.parallel || all_running_ready(&s, s.replicas)))
        scale_down(&s);
    if (!rc && !s.acted) rolling_update(&s);
    if (!rc) rc = update_status(&s);
    free(s.slot);
    return rc;
}

const struct ctrl_def ctrl_statefulset_def = {
    .name = "statefulset-controller",
    .resources = sts_resources,
    .on_event = sts_on_event,
    .sync = sts_sync,
};
