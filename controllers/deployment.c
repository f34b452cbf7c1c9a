/* deployment.c: the Deployment controller.
 *
 * Keys are "ns/name" of Deployments; ReplicaSet events map to their
 * controlling Deployment, orphan ReplicaSets to the Deployments whose
 * selector matches them. Pods are not watched: their changes reach the
 * Deployment through its ReplicaSets' status.
 *
 * One sync, after Kubernetes' deployment controller:
 *  1. claim ReplicaSets (adopt matching orphans, release owned ones that no
 *     longer match); the "new" one is the one whose template equals the
 *     Deployment's (ignoring pod-template-hash), the others are "old".
 *  2. revisions: the new ReplicaSet gets max(old revisions) + 1 (a rollback
 *     re-uses an old ReplicaSet, which so becomes the newest revision); the
 *     Deployment carries the same deployment.kubernetes.io/revision.
 *  3. the strategy: RollingUpdate creates the new ReplicaSet
 *     (deploy-name-<hash>, labels and selector with pod-template-hash) and
 *     scales it up within replicas + maxSurge, and scales old ones down
 *     while at least replicas - maxUnavailable pods stay available
 *     (unhealthy old pods go first); Recreate scales old ones to 0, waits
 *     until their pods are gone, then creates/scales the new one. Paused:
 *     only scaling of a sole ReplicaSet. Complete: ReplicaSets scaled to 0
 *     beyond revisionHistoryLimit are deleted, oldest revision first.
 *  4. status: replicas/updated/ready/available/unavailable,
 *     observedGeneration, the Available condition and the Progressing
 *     condition (NewReplicaSetCreated, ReplicaSetUpdated,
 *     NewReplicaSetAvailable, ProgressDeadlineExceeded after
 *     progressDeadlineSeconds without progress; a wake-up is scheduled at
 *     the deadline).
 * All changes to one object in a sync are gathered into one conditional
 * update (two would conflict with each other). Names are deterministic and
 * writes conditional, so a sync running on a stale cache fails harmlessly
 * with a conflict instead of acting twice: no expectations needed. */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "common/selector.h"
#include "controllers/ctrl_int.h"

static const char *const deploy_resources[] = {"deployments", "replicasets", "pods", NULL};

struct rsi {
    const struct ctrl_obj *o;   /* NULL: created by this sync */
    char name[300];
    int64_t spec;               /* spec.replicas as this sync leaves it */
    int64_t replicas, ready, avail;   /* status */
    int64_t rev;
    const char *created;
    json_t *edit;               /* pending changes (a copy of o->obj) */
};

struct dsync {
    struct ctrl *c;
    const char *key;
    const struct ctrl_obj *d;
    json_t *dcopy;              /* the Deployment as this sync leaves it */
    int64_t replicas, surge, unavail;
    struct rsi *rs;
    size_t n;
    struct rsi *nrs;            /* the new ReplicaSet, or NULL */
    bool created_new;
};

/* ---- events -------------------------------------------------------------------- */

static bool selects(const json_t *owner, const json_t *obj)
{
    struct selector sel;
    char err[256];
    if (selector_from_json(json_path(owner, "spec.selector"), &sel, err, sizeof err)) return false;
    bool ok = !selector_empty(&sel) && selector_matches(&sel, json_path(obj, "metadata.labels"));
    selector_free(&sel);
    return ok;
}

static void enqueue_owner(struct ctrl *c, const struct ctrl_obj *o)
{
    const json_t *ref = ctrl_controller_ref(o->obj);
    const char *kind = json_string_value(json_object_get(ref, "kind"));
    const char *name = json_string_value(json_object_get(ref, "name"));
    char key[512];
    if (ref && kind && name && !strcmp(kind, "Deployment")) {
        ctrl_key(key, sizeof key, o->ns, name);
        ctrl_enqueue(c, key);
    } else if (!ref) {
        const struct ctrl_obj **v;
        size_t n = ctrl_list(c, "deployments", o->ns, &v);
        for (size_t i = 0; i < n; i++) {
            if (!selects(v[i]->obj, o->obj)) continue;
            ctrl_key(key, sizeof key, v[i]->ns, v[i]->name);
            ctrl_enqueue(c, key);
        }
        free(v);
    }
}

static void deploy_on_event(struct ctrl *c, enum store_ev_type type, const struct ctrl_obj *old,
                            const struct ctrl_obj *obj)
{
    char key[512];
    if (!strcmp(obj->resource, "deployments")) {
        ctrl_key(key, sizeof key, obj->ns, obj->name);
        if (type != STORE_EV_DELETED) ctrl_enqueue(c, key);
        return;
    }
    if (!strcmp(obj->resource, "replicasets")) {
        enqueue_owner(c, obj);
        if (old) enqueue_owner(c, old);
        return;
    }
    /* pods: only a deleted pod matters (Recreate waits for old pods to go) */
    if (type != STORE_EV_DELETED) return;
    const json_t *ref = ctrl_controller_ref(obj->obj);
    const char *rsname = json_string_value(json_object_get(ref, "name"));
    const struct ctrl_obj *rs = rsname ? ctrl_get(c, "replicasets", obj->ns, rsname) : NULL;
    if (rs) enqueue_owner(c, rs);
}

/* ---- replica sets ---------------------------------------------------------------- */

static json_t *rs_edit(struct rsi *r)
{
    if (!r->edit && r->o) r->edit = json_deep_copy(r->o->obj);
    return r->edit;
}

static void set_annotation(json_t *obj, const char *k, const char *v)
{
    json_t *md = json_object_get(obj, "metadata");
    json_t *an = json_object_get(md, "annotations");
    if (!json_is_object(an)) json_object_set_new(md, "annotations", an = json_object());
    json_object_set_new(an, k, json_string(v));
}

static void set_annotation_int(json_t *obj, const char *k, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    set_annotation(obj, k, buf);
}

/* Scales r to n (in this sync's edit); records the event. */
static bool scale(struct dsync *s, struct rsi *r, int64_t n)
{
    if (r->spec == n || !rs_edit(r)) return false;
    json_object_set_new(json_object_get(r->edit, "spec"), "replicas", json_integer(n));
    set_annotation_int(r->edit, "deployment.kubernetes.io/desired-replicas", s->replicas);
    set_annotation_int(r->edit, "deployment.kubernetes.io/max-replicas", s->replicas + s->surge);
    if (n > r->spec)
        ctrl_event(s->c, s->d, "Normal", "ScalingReplicaSet", "Scaled up replica set %s to %lld",
                   r->name, (long long)n);
    else
        ctrl_event(s->c, s->d, "Normal", "ScalingReplicaSet",
                   "Scaled down replica set %s to %lld from %lld", r->name, (long long)n,
                   (long long)r->spec);
    r->spec = n;
    return true;
}

static json_t *without_owner(const json_t *obj, const char *uid, json_t *add)
{
    json_t *copy = json_deep_copy(obj);
    json_t *md = json_object_get(copy, "metadata");
    json_t *refs = json_object_get(md, "ownerReferences"), *keep = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(refs, i, r) {
        const char *u = json_string_value(json_object_get(r, "uid"));
        if (!uid || !u || strcmp(u, uid)) json_array_append(keep, r);
    }
    if (add) json_array_append_new(keep, add);
    if (json_array_size(keep)) json_object_set_new(md, "ownerReferences", keep);
    else {
        json_decref(keep);
        json_object_del(md, "ownerReferences");
    }
    return copy;
}

static int claim(struct dsync *s)
{
    const struct ctrl_obj **v;
    size_t n = ctrl_list(s->c, "replicasets", s->d->ns, &v);
    s->rs = calloc(n + 1, sizeof *s->rs);
    if (!s->rs) {
        free(v);
        return BE_NOMEM;
    }
    bool deleting = ctrl_deleting(s->d->obj);
    for (size_t i = 0; i < n; i++) {
        const struct ctrl_obj *o = v[i];
        const json_t *ref = ctrl_controller_ref(o->obj);
        const char *uid = json_string_value(json_object_get(ref, "uid"));
        bool match = selects(s->d->obj, o->obj), mine = uid && s->d->uid && !strcmp(uid, s->d->uid);
        if (mine && !match) {
            if (!deleting) ctrl_update(s->c, o, without_owner(o->obj, s->d->uid, NULL));
            continue;
        }
        if (!mine && (ref || !match || deleting || ctrl_deleting(o->obj))) continue;
        struct rsi *r = &s->rs[s->n++];
        r->o = o;
        snprintf(r->name, sizeof r->name, "%s", o->name);
        r->spec = ctrl_int(o->obj, "spec.replicas", 1);
        r->replicas = ctrl_int(o->obj, "status.replicas", 0);
        r->ready = ctrl_int(o->obj, "status.readyReplicas", 0);
        r->avail = ctrl_int(o->obj, "status.availableReplicas", 0);
        r->rev = deploy_revision(o->obj);
        r->created = json_path_str(o->obj, "metadata.creationTimestamp");
        if (!mine) /* adopt */
            r->edit = without_owner(o->obj, NULL, ctrl_owner_ref("apps/v1", "Deployment", s->d));
    }
    free(v);
    json_t *tmpl = json_path(s->d->obj, "spec.template");
    for (size_t i = 0; i < s->n; i++) {
        if (!deploy_same_template(json_path(s->rs[i].o->obj, "spec.template"), tmpl)) continue;
        if (!s->nrs || strcmp(s->rs[i].created ? s->rs[i].created : "",
                              s->nrs->created ? s->nrs->created : "") < 0)
            s->nrs = &s->rs[i];
    }
    return 0;
}

static const char *change_cause(const json_t *d)
{
    json_t *an = json_path(d, "metadata.annotations");
    return an ? json_string_value(json_object_get(an, "kubernetes.io/change-cause")) : NULL;
}

static int64_t max_old_revision(struct dsync *s)
{
    int64_t max = 0;
    for (size_t i = 0; i < s->n; i++)
        if (&s->rs[i] != s->nrs && s->rs[i].rev > max) max = s->rs[i].rev;
    return max;
}

/* The new ReplicaSet's revision becomes the newest; the Deployment's follows. */
static void sync_revision(struct dsync *s)
{
    int64_t want = max_old_revision(s) + 1;
    if (!s->nrs) return;
    if (s->nrs->rev < want && rs_edit(s->nrs)) {
        json_t *an = json_path(s->nrs->edit, "metadata.annotations");
        const char *hist = an ? json_string_value(json_object_get(an, "deployment.kubernetes.io/revision-history")) : NULL;
        char buf[512];
        if (s->nrs->rev) {
            snprintf(buf, sizeof buf, "%s%s%lld", hist ? hist : "", hist ? "," : "", (long long)s->nrs->rev);
            set_annotation(s->nrs->edit, "deployment.kubernetes.io/revision-history", buf);
        }
        set_annotation_int(s->nrs->edit, DEPLOY_REVISION, want);
        if (change_cause(s->d->obj))
            set_annotation(s->nrs->edit, "kubernetes.io/change-cause", change_cause(s->d->obj));
        s->nrs->rev = want;
    }
    int64_t mrs = ctrl_int(s->d->obj, "spec.minReadySeconds", 0);
    if (ctrl_int(s->nrs->o->obj, "spec.minReadySeconds", 0) != mrs && rs_edit(s->nrs))
        json_object_set_new(json_object_get(s->nrs->edit, "spec"), "minReadySeconds", json_integer(mrs));
    set_annotation_int(s->dcopy, DEPLOY_REVISION, s->nrs->rev);
}

/* Creates the new ReplicaSet with n replicas. */
static int create_new(struct dsync *s, int64_t n)
{
    const json_t *d = s->d->obj;
    int64_t collisions = ctrl_int(d, "status.collisionCount", 0);
    char hash[16], name[300];
    deploy_template_hash(json_path(d, "spec.template"), collisions, hash);
    snprintf(name, sizeof name, "%.240s-%s", s->d->name, hash);
    if (ctrl_get(s->c, "replicasets", s->d->ns, name)) {
        /* a ReplicaSet of that name exists with another template: hash again */
        json_t *st = json_object_get(s->dcopy, "status");
        if (!json_is_object(st)) json_object_set_new(s->dcopy, "status", st = json_object());
        json_object_set_new(st, "collisionCount", json_integer(collisions + 1));
        log_warn("ctrl", "deployment %s/%s: hash collision on %s", s->d->ns, s->d->name, name);
        return 0;
    }
    json_t *tmpl = json_deep_copy(json_path(d, "spec.template"));
    json_t *sel = json_deep_copy(json_path(d, "spec.selector"));
    if (!json_is_object(tmpl) || !json_is_object(sel)) {
        json_decref(tmpl);
        json_decref(sel);
        return BE_INVAL;
    }
    json_t *tmd = json_object_get(tmpl, "metadata");
    if (!json_is_object(tmd)) json_object_set_new(tmpl, "metadata", tmd = json_object());
    json_t *labels = json_object_get(tmd, "labels");
    if (!json_is_object(labels)) json_object_set_new(tmd, "labels", labels = json_object());
    json_object_set_new(labels, DEPLOY_HASH_LABEL, json_string(hash));
    json_t *ml = json_object_get(sel, "matchLabels");
    if (!json_is_object(ml)) json_object_set_new(sel, "matchLabels", ml = json_object());
    json_object_set_new(ml, DEPLOY_HASH_LABEL, json_string(hash));
    int64_t rev = max_old_revision(s) + 1;
    json_t *rs = json_pack("{s:s, s:s, s:{s:s, s:s, s:O, s:{}, s:[o]}, s:{s:I, s:I, s:o, s:o}}",
                           "apiVersion", "apps/v1", "kind", "ReplicaSet", "metadata", "name", name,
                           "namespace", s->d->ns, "labels", labels, "annotations",
                           "ownerReferences", ctrl_owner_ref("apps/v1", "Deployment", s->d),
                           "spec", "replicas", (json_int_t)n, "minReadySeconds",
                           (json_int_t)ctrl_int(d, "spec.minReadySeconds", 0), "selector", sel,
                           "template", tmpl);
    if (!rs) return BE_NOMEM;
    set_annotation_int(rs, DEPLOY_REVISION, rev);
    set_annotation_int(rs, "deployment.kubernetes.io/desired-replicas", s->replicas);
    set_annotation_int(rs, "deployment.kubernetes.io/max-replicas", s->replicas + s->surge);
    if (change_cause(d)) set_annotation(rs, "kubernetes.io/change-cause", change_cause(d));
    int rc = ctrl_create(s->c, "replicasets", rs, NULL, NULL, 0);
    if (rc) return rc;
    struct rsi *r = &s->rs[s->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->spec = n;
    r->rev = rev;
    s->nrs = r;
    s->created_new = true;
    set_annotation_int(s->dcopy, DEPLOY_REVISION, rev);
    if (n > 0)
        ctrl_event(s->c, s->d, "Normal", "ScalingReplicaSet", "Scaled up replica set %s to %lld", name,
                   (long long)n);
    return 0;
}

/* ---- strategies ------------------------------------------------------------------ */

static int64_t sum_spec(struct dsync *s, bool old_only)
{
    int64_t t = 0;
    for (size_t i = 0; i < s->n; i++)
        if (!old_only || &s->rs[i] != s->nrs) t += s->rs[i].spec;
    return t;
}

/* How many replicas the new ReplicaSet may have now (within maxSurge). */
static int64_t new_rs_replicas(struct dsync *s)
{
    int64_t cur = s->nrs ? s->nrs->spec : 0;
    int64_t total = sum_spec(s, false);
    int64_t max_total = s->replicas + s->surge;
    if (total >= max_total) return cur;
    int64_t up = max_total - total;
    if (up > s->replicas - cur) up = s->replicas - cur;
    return cur + (up > 0 ? up : 0);
}

static bool reconcile_new(struct dsync *s)
{
    if (!s->nrs || s->created_new || s->nrs->spec == s->replicas) return false;
    if (s->nrs->spec > s->replicas) return scale(s, s->nrs, s->replicas);
    return scale(s, s->nrs, new_rs_replicas(s));
}

static int by_created(const void *a, const void *b)
{
    const struct rsi *x = *(struct rsi *const *)a, *y = *(struct rsi *const *)b;
    int r = strcmp(x->created ? x->created : "", y->created ? y->created : "");
    return r ? r : strcmp(x->name, y->name);
}

static bool reconcile_old(struct dsync *s)
{
    if (!sum_spec(s, true)) return false;
    struct rsi **old = calloc(s->n, sizeof *old);
    size_t no = 0;
    if (!old) return false;
    for (size_t i = 0; i < s->n; i++)
        if (&s->rs[i] != s->nrs) old[no++] = &s->rs[i];
    qsort(old, no, sizeof *old, by_created);
    int64_t min_avail = s->replicas - s->unavail;
    int64_t new_unavail = s->nrs ? s->nrs->spec - s->nrs->avail : 0;
    int64_t max_down = sum_spec(s, false) - min_avail - new_unavail;
    bool scaled = false;
    if (max_down > 0) {
        /* unhealthy old pods first: they do not count as available anyway */
        int64_t done = 0;
        for (size_t i = 0; i < no && done < max_down; i++) {
            struct rsi *r = old[i];
            if (!r->spec || r->avail >= r->spec) continue;
            int64_t k = r->spec - r->avail;
            if (k > max_down - done) k = max_down - done;
            scaled |= scale(s, r, r->spec - k);
            done += k;
        }
        /* then healthy ones, keeping min_avail available */
        int64_t avail = 0;
        for (size_t i = 0; i < s->n; i++) avail += s->rs[i].avail < s->rs[i].spec ? s->rs[i].avail : s->rs[i].spec;
        int64_t total = avail - min_avail;
        for (size_t i = 0; i < no && total > 0; i++) {
            struct rsi *r = old[i];
            if (!r->spec) continue;
            int64_t k = r->spec < total ? r->spec : total;
            scaled |= scale(s, r, r->spec - k);
            total -= k;
        }
    }
    free(old);
    return scaled;
}

static int64_t old_pods_active(struct dsync *s)
{
    int64_t n = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (&s->rs[i] == s->nrs || !s->rs[i].o || !s->rs[i].o->uid) continue;
        const struct ctrl_obj **deps;
        size_t nd = ctrl_dependents(s->c, s->rs[i].o->uid, &deps);
        for (size_t j = 0; j < nd; j++)
            if (!strcmp(deps[j]->resource, "pods") && ctrl_pod_active(deps[j]->obj)) n++;
        free(deps);
    }
    return n;
}

static int rollout_recreate(struct dsync *s)
{
    if (sum_spec(s, true) > 0) {
        for (size_t i = 0; i < s->n; i++)
            if (&s->rs[i] != s->nrs) scale(s, &s->rs[i], 0);
        return 0;
    }
    if (old_pods_active(s)) return 0; /* a pod DELETED event wakes us */
    if (!s->nrs) return create_new(s, s->replicas);
    scale(s, s->nrs, s->replicas);
    return 0;
}

static int rollout_rolling(struct dsync *s)
{
    if (!s->nrs) {
        int rc = create_new(s, new_rs_replicas(s));
        if (rc) return rc;
    }
    if (reconcile_new(s)) return 0;
    reconcile_old(s);
    return 0;
}

/* ---- history and status ------------------------------------------------------------- */

static int by_revision(const void *a, const void *b)
{
    const struct rsi *x = *(struct rsi *const *)a, *y = *(struct rsi *const *)b;
    if (x->rev != y->rev) return x->rev < y->rev ? -1 : 1;
    return by_created(a, b);
}

static void cleanup_history(struct dsync *s)
{
    int64_t limit = ctrl_int(s->d->obj, "spec.revisionHistoryLimit", 10);
    struct rsi **old = calloc(s->n ? s->n : 1, sizeof *old);
    size_t no = 0;
    if (!old) return;
    for (size_t i = 0; i < s->n; i++)
        if (&s->rs[i] != s->nrs && s->rs[i].o) old[no++] = &s->rs[i];
    int64_t extra = (int64_t)no - limit;
    qsort(old, no, sizeof *old, by_revision);
    for (size_t i = 0; i < no && extra > 0; i++) {
        struct rsi *r = old[i];
        if (r->spec || r->replicas || r->edit) continue;
        if (ctrl_int(r->o->obj, "status.observedGeneration", 0) < ctrl_int(r->o->obj, "metadata.generation", 1)) continue;
        log_info("ctrl", "deployment %s/%s: deleting old replica set %s (revision history)", s->d->ns, s->d->name, r->name);
        ctrl_delete(s->c, r->o, NULL);
        extra--;
    }
    free(old);
}

static bool complete(struct dsync *s, int64_t updated, int64_t replicas, int64_t avail)
{
    return updated == s->replicas && replicas == s->replicas && avail == s->replicas;
}

static void progressing(struct dsync *s, int64_t updated, int64_t replicas,
                        int64_t ready, int64_t avail)
{
    json_t *prev = json_object_get(s->d->obj, "status");
    time_t now = ctrl_now(s->c);
    int64_t deadline = ctrl_int(s->d->obj, "spec.progressDeadlineSeconds", 600);
    const char *nm = s->nrs ? s->nrs->name : "";
    char msg[512];
    json_t *cond = ctrl_condition(s->dcopy, "Progressing");
    const char *reason = json_string_value(json_object_get(cond, "reason"));
    if (json_is_true(json_path(s->d->obj, "spec.paused"))) {
        if (!reason || strcmp(reason, "DeploymentPaused"))
            ctrl_set_condition(s->dcopy, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", now, true);
        return;
    }
    if (reason && !strcmp(reason, "DeploymentPaused")) {
        ctrl_set_condition(s->dcopy, "Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed", now, true);
        return;
    }
    if (s->created_new) {
        snprintf(msg, sizeof msg, "Created new replica set \"%s\"", nm);
        ctrl_set_condition(s->dcopy, "Progressing", "True", "NewReplicaSetCreated", msg, now, true);
        goto requeue;
    }
    if (!cond && s->nrs) {
        snprintf(msg, sizeof msg, "Found new replica set \"%s\"", nm);
        ctrl_set_condition(s->dcopy, "Progressing", "True", "FoundNewReplicaSet", msg, now, true);
    }
    cond = ctrl_condition(s->dcopy, "Progressing");
    reason = json_string_value(json_object_get(cond, "reason"));
    if (reason && !strcmp(reason, "NewReplicaSetAvailable") && replicas == updated) return;
    int64_t p_upd = ctrl_int(prev, "updatedReplicas", 0), p_rep = ctrl_int(prev, "replicas", 0);
    if (complete(s, updated, replicas, avail)) {
        snprintf(msg, sizeof msg, "ReplicaSet \"%s\" has successfully progressed.", nm);
        ctrl_set_condition(s->dcopy, "Progressing", "True", "NewReplicaSetAvailable", msg, now, true);
        return;
    }
    if (updated > p_upd || replicas - updated < p_rep - p_upd ||
        ready > ctrl_int(prev, "readyReplicas", 0) || avail > ctrl_int(prev, "availableReplicas", 0)) {
        snprintf(msg, sizeof msg, "ReplicaSet \"%s\" is progressing.", nm);
        ctrl_set_condition(s->dcopy, "Progressing", "True", "ReplicaSetUpdated", msg, now, true);
    } else if (cond && reason && strcmp(reason, "ProgressDeadlineExceeded")) {
        time_t last;
        const char *lu = json_string_value(json_object_get(cond, "lastUpdateTime"));
        if (lu && !time_parse_rfc3339(lu, &last) && (int64_t)(now - last) > deadline) {
            snprintf(msg, sizeof msg, "ReplicaSet \"%s\" has timed out progressing.", nm);
            ctrl_set_condition(s->dcopy, "Progressing", "False", "ProgressDeadlineExceeded", msg, now, true);
            ctrl_event(s->c, s->d, "Warning", "ProgressDeadlineExceeded", "%s", msg);
            return;
        }
    }
requeue:
    cond = ctrl_condition(s->dcopy, "Progressing");
    const char *lu = json_string_value(json_object_get(cond, "lastUpdateTime"));
    const char *cs = json_string_value(json_object_get(cond, "status"));
    time_t last;
    if (lu && cs && !strcmp(cs, "True") && !time_parse_rfc3339(lu, &last))
        ctrl_enqueue_after(s->c, s->key, ((int64_t)last + deadline + 1) * 1000 - ctrl_now_ms(s->c));
}

static void compute_status(struct dsync *s)
{
    int64_t replicas = 0, ready = 0, avail = 0, updated = s->nrs ? s->nrs->replicas : 0;
    for (size_t i = 0; i < s->n; i++) {
        replicas += s->rs[i].replicas;
        ready += s->rs[i].ready;
        avail += s->rs[i].avail;
    }
    json_t *st = json_object_get(s->dcopy, "status");
    if (!json_is_object(st)) json_object_set_new(s->dcopy, "status", st = json_object());
    json_object_set_new(st, "observedGeneration", json_integer(ctrl_int(s->d->obj, "metadata.generation", 1)));
    json_object_set_new(st, "replicas", json_integer(replicas));
    json_object_set_new(st, "updatedReplicas", json_integer(updated));
    json_object_set_new(st, "readyReplicas", json_integer(ready));
    json_object_set_new(st, "availableReplicas", json_integer(avail));
    json_object_set_new(st, "unavailableReplicas", json_integer(s->replicas > avail ? s->replicas - avail : 0));
    time_t now = ctrl_now(s->c);
    if (avail >= s->replicas - s->unavail)
        ctrl_set_condition(s->dcopy, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", now, false);
    else
        ctrl_set_condition(s->dcopy, "Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", now, false);
    progressing(s, updated, replicas, ready, avail);
    if (complete(s, updated, replicas, avail) && !json_is_true(json_path(s->d->obj, "spec.paused")))
        cleanup_history(s);
}

/* ---- sync ----------------------------------------------------------------------------- */

static int write_all(struct dsync *s)
{
    int rc = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!s->rs[i].edit) continue;
        int r = ctrl_update(s->c, s->rs[i].o, s->rs[i].edit);
        s->rs[i].edit = NULL;
        if (r && !rc) rc = r;
    }
    if (!json_equal(s->dcopy, s->d->obj)) {
        int r = ctrl_update(s->c, s->d, s->dcopy);
        s->dcopy = NULL;
        if (r && !rc) rc = r;
    }
    return rc;
}

static int deploy_sync(struct ctrl *c, const char *key)
{
    const struct ctrl_obj *d = ctrl_get_key(c, "deployments", key);
    if (!d || ctrl_deleting(d->obj)) return 0;
    struct dsync s = {.c = c, .key = key, .d = d, .replicas = ctrl_int(d->obj, "spec.replicas", 1)};
    struct selector sel;
    char err[256];
    if (selector_from_json(json_path(d->obj, "spec.selector"), &sel, err, sizeof err)) return 0;
    bool empty = selector_empty(&sel);
    selector_free(&sel);
    if (empty) return 0; /* rejected at the API; never act on "everything" */
    if (deploy_surge_unavailable(d->obj, &s.surge, &s.unavail)) {
        ctrl_event(c, d, "Warning", "InvalidStrategy", "invalid maxSurge or maxUnavailable");
        return 0;
    }
    if (!(s.dcopy = json_deep_copy(d->obj))) return BE_NOMEM;
    int rc = claim(&s);
    if (rc) goto out;
    sync_revision(&s);
    const char *type = json_path_str(d->obj, "spec.strategy.type");
    if (json_is_true(json_path(d->obj, "spec.paused"))) {
        if (s.nrs && s.n == 1) scale(&s, s.nrs, s.replicas);
    } else if (type && !strcmp(type, "Recreate")) {
        rc = rollout_recreate(&s);
    } else {
        rc = rollout_rolling(&s);
    }
    if (!rc) compute_status(&s);
    int wrc = write_all(&s);
    if (!rc) rc = wrc;
out:
    for (size_t i = 0; i < s.n; i++) json_decref(s.rs[i].edit);
    free(s.rs);
    json_decref(s.dcopy);
    return rc;
}

const struct ctrl_def ctrl_deployment_def = {
    .name = "deployment-controller",
    .resources = deploy_resources,
    .on_event = deploy_on_event,
    .sync = deploy_sync,
};
